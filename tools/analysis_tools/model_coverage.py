"""Try every stock model family of the installed mmpretrain, mmdet and mmseg with rkd.

For each family (a folder of the package's configs) its smallest model distils from the next
larger one on synthetic data, with ``'auto'`` recorders: build, 2 training steps, a strict load
of the run's checkpoint and a prediction, export, a strict load of the student (see
``rkd/analysis/model_coverage.py``). Each result is appended to ``--results`` (JSON lines, so an
interrupted sweep resumes where it stopped) and the table is written to ``--out``.

    python tools/analysis_tools/model_coverage.py [--tasks mmpretrain mmdet mmseg]
        [--families mmdet:retinanet mmseg:fcn ...] [--results FILE] [--out FILE]
        [--timeout S] [--rerun-failed] [--report-only] [--model-options channels_last=True]

``--model-options`` are settings of the distillation model (``rkd.SingleTeacherDistill``);
give such a sweep its own ``--results`` and ``--out``.
"""
import argparse
import json
import platform
import sys
from pathlib import Path
from typing import List

from mmengine.config import DictAction

from rkd.analysis.model_coverage import TASKS, Outcome, families, markdown, run_family
from rkd.utils import register_all_modules

COMMAND = 'python tools/analysis_tools/model_coverage.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Distil every stock model family with rkd')
    parser.add_argument('--tasks', nargs='+', choices=TASKS, default=list(TASKS))
    parser.add_argument('--families', nargs='+', metavar='TASK:FAMILY',
                        help='only these families, e.g. mmdet:retinanet (default: all)')
    # kept beside the page it renders, in the repository: a sweep takes hours on a CPU and
    # goes on where the last one stopped, on any machine
    parser.add_argument('--results', default='docs/model_coverage.jsonl',
                        help='JSON lines of the results; families already there are skipped')
    parser.add_argument('--out', default='docs/model_coverage.md', help='the table to write')
    parser.add_argument('--timeout', type=int, default=600, help='seconds a family may take')
    parser.add_argument('--rerun-failed', action='store_true',
                        help='run the families that failed again (a later line wins)')
    parser.add_argument('--report-only', action='store_true',
                        help='run nothing: write the table of the results so far')
    parser.add_argument('--model-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE', help='settings of the distillation model, e.g. '
                        'channels_last=True')
    return parser.parse_args()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    return f'{cpu}, CPU only, torch {torch.__version__}'


def wanted(args: argparse.Namespace) -> List[tuple]:
    if args.families:
        return [tuple(item.split(':', 1)) for item in args.families]
    return [(task, family) for task in args.tasks for family in families(task)]


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if results.exists():
        for line in results.read_text().splitlines():
            outcome = Outcome(**json.loads(line))
            done[(outcome.task, outcome.family)] = outcome
    with results.open('a') as log:
        for task, family in wanted(args):
            known = done.get((task, family))
            if args.report_only or known and not (args.rerun_failed and known.result == 'fail'):
                continue
            outcome = run_family(task, family, args.timeout, model_options=args.model_options)
            done[(task, family)] = outcome
            log.write(json.dumps(outcome.as_dict()) + '\n')
            log.flush()
            print(f'{task}:{family}: {outcome.result} {outcome.stage} {outcome.message} '
                  f'({outcome.seconds:g} s)', flush=True)
    outcomes = [done.get(key, Outcome(*key, result='not run')) for key in wanted(args)]
    command = ' '.join([COMMAND, *(['--model-options', *(
        f'{key}={value}' for key, value in args.model_options.items())]
        if args.model_options else [])])
    Path(args.out).write_text(markdown(outcomes, command, machine()))
    failed = [o for o in outcomes if o.result in ('fail', 'not run')]
    print(f'{sum(o.result in ("pass", "n/a") for o in outcomes)} of {len(outcomes)} families '
          f'pass or are n/a, {len(failed)} fail or were not run; table in {args.out}')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
