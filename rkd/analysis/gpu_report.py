"""A one-command report of the distillation step on a GPU: the paper's CIFAR and ImageNet pairs,
each in the connector's forms and precisions, timed within a device-time budget, written as one
JSON file and a markdown table.

The eager forms run in this process, one after another (:func:`benchmark_distillation` builds a
fresh model for each); ``torch.compile`` runs last, in a process of its own under a timeout, so
a slow compilation costs at most what is left of the budget. ``tiny`` is a CPU smoke run of the
same code (tiny batches, one step) for the tests.
"""
import argparse
import datetime
import gc
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch

from rkd.analysis.benchmark import benchmark_distillation
from rkd.apis import load_config
from rkd.utils import register_all_modules


class Case(NamedTuple):
    """A teacher -> student pair at a batch size; ``tiny_input`` (H, W) for ``--tiny``."""
    name: str
    config: str
    batch_size: int
    tiny_input: Tuple[int, int]


class Form(NamedTuple):
    """The connector and loss form and the precision a row runs in."""
    name: str
    impl: str
    amp: Optional[str]
    channels_last: bool


CASES = (
    Case('CIFAR-100 resnet32x4 -> resnet8x4', 'configs/cifar100/'
         'reviewkd_resnet32x4_resnet8x4_cifar100.py', 128, (32, 32)),
    Case('ImageNet ResNet34 -> ResNet18', 'configs/imagenet/reviewkd_resnet34_resnet18_in1k.py',
         64, (64, 64)),
)
FORMS = (
    Form('fast fp32', 'fast', None, False),
    Form('reference fp32', 'reference', None, False),
    Form('fast bf16 autocast + channels_last', 'fast', 'bf16', True),
    Form('compiled fp32', 'compiled', None, False),
)
BASELINE = 'reference fp32'
TINY_BATCH = 2
# Steps of a measurement, as (warm-up, timed): one of each is enough to run the code.
STEPS = dict(full=(3, 10), tiny=(0, 1))
# Seconds kept back from torch.compile's time box for writing the report.
RESERVE_S = 10.0


class Budget:
    """Device time left of ``total_s``, counted from its creation; prints what has elapsed."""

    def __init__(self, total_s: float) -> None:
        self.total_s, self.start = total_s, time.perf_counter()

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.start

    @property
    def left_s(self) -> float:
        return self.total_s - self.elapsed_s

    def log(self, what: str) -> None:
        print(f'[{self.elapsed_s:6.1f} s of {self.total_s:.0f}] {what}', flush=True)


def measure(case: Case, form: Form, device: str, tiny: bool) -> Dict[str, object]:
    """The figures of one row: :func:`benchmark_distillation` of ``case`` in ``form``."""
    cfg = load_config(case.config)
    warmup, steps = STEPS['tiny' if tiny else 'full']
    result = benchmark_distillation(
        cfg, form.impl, TINY_BATCH if tiny else case.batch_size, device=device, amp=form.amp,
        channels_last=form.channels_last, warmup=warmup, steps=steps,
        input_size=case.tiny_input if tiny else None)
    gc.collect()
    if device.startswith('cuda'):
        torch.cuda.empty_cache()
    return result


def measure_in_own_process(case: Case, form: Form, device: str, timeout_s: float
                           ) -> Dict[str, object]:
    """:func:`measure` in a fresh process, killed after ``timeout_s``: torch.compile's time
    cannot be bounded inside the process that compiles.

    Raises:
        subprocess.TimeoutExpired: the time box ran out.
        ChildProcessError: the process failed; the message ends with the last line of its
            error output (the exception), to fit in a table row.
    """
    cmd = [sys.executable, '-m', 'rkd.analysis.gpu_report', '--one', case.name, form.name,
           '--device', device]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [''])[-1]
        raise ChildProcessError(f'exit code {done.returncode}: {last}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(case: Case, form: Form, status: str, result: Optional[dict] = None) -> Dict[str, object]:
    """One row of the report; the figures are None unless ``status`` is 'ok'."""
    figures = dict(batch_size=None, input_size=None, distill_ms=None, distill_min_ms=None,
                   distill_max_ms=None, student_ms=None, teacher_ms=None, peak_mib=None,
                   overhead=None)
    if result is not None:
        distill = result['distill']
        figures = dict(batch_size=result['batch_size'], input_size=result['input_size'],
                       distill_ms=distill['ms'], distill_min_ms=distill['min_ms'],
                       distill_max_ms=distill['max_ms'], student_ms=result['student']['ms'],
                       teacher_ms=result['teacher']['ms'], peak_mib=distill['peak_mib'],
                       overhead=result['overhead'])
    return dict(case=case.name, config=case.config, form=form.name, impl=form.impl,
                amp=form.amp, channels_last=form.channels_last, status=status, **figures)


def run_report(device: str, tiny: bool, budget_s: float, compile_box_s: float
               ) -> List[Dict[str, object]]:
    """Every row of the report: the eager forms of every case first, then the compiled ones,
    each skipped once the budget is spent."""
    budget = Budget(budget_s)
    eager = [f for f in FORMS if f.impl != 'compiled']
    compiled = [f for f in FORMS if f.impl == 'compiled']
    rows = {}
    for case in CASES:
        for form in eager:
            if budget.left_s <= RESERVE_S:
                rows[case, form] = row(case, form, 'skipped: device-time budget spent')
                continue
            rows[case, form] = row(case, form, 'ok', measure(case, form, device, tiny))
            budget.log(f'{case.name}, {form.name}: {rows[case, form]["distill_ms"]:.1f} ms')
    for case in CASES:
        for form in compiled:
            rows[case, form] = _compiled_row(case, form, device, tiny, budget, compile_box_s)
            budget.log(f'{case.name}, {form.name}: {rows[case, form]["status"]}')
    ordered = [rows[case, form] for case in CASES for form in FORMS]
    add_speedups(ordered)
    return ordered


def _compiled_row(case: Case, form: Form, device: str, tiny: bool, budget: Budget,
                  compile_box_s: float) -> Dict[str, object]:
    if tiny:
        return row(case, form, 'skipped: --tiny (torch.compile takes minutes on a CPU)')
    timeout_s = min(compile_box_s, budget.left_s - RESERVE_S)
    if timeout_s <= 0:
        return row(case, form, 'skipped: device-time budget spent')
    try:
        return row(case, form, 'ok', measure_in_own_process(case, form, device, timeout_s))
    except subprocess.TimeoutExpired:
        return row(case, form, f'skipped: compiling and running took over {timeout_s:.0f} s')
    except ChildProcessError as error:
        return row(case, form, f'failed: {error}')


def add_speedups(rows: Sequence[Dict[str, object]]) -> None:
    """``speedup``: each row's distillation step against the baseline form's of its case
    (reference fp32 time / row time); None where either was not measured."""
    base = {r['case']: r['distill_ms'] for r in rows if r['form'] == BASELINE}
    for r in rows:
        ref = base.get(r['case'])
        r['speedup'] = ref / r['distill_ms'] if ref and r['distill_ms'] else None


def device_name(device: str) -> str:
    if device.startswith('cuda'):
        return torch.cuda.get_device_name(device)
    cpuinfo = Path('/proc/cpuinfo')
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith('model name'):
            return line.split(':', 1)[1].strip()
    return platform.processor() or 'CPU'


def markdown(report: Dict[str, object]) -> str:
    """The report as a markdown table, headed by the device, torch version and date."""
    lines = [f'# Distillation step on {report["device_name"]}', '',
             f'torch {report["torch"]} (CUDA {report["cuda"]}), {report["date"]}, '
             f'`{report["command"]}`; {report["elapsed_s"]:.0f} s of a {report["budget_s"]:.0f} s '
             'budget. Step times: median of the timed steps (min-max); speedup: reference fp32 '
             'time / this form\'s; peak: what torch allocated in one distillation step.', '',
             '| pair | batch, input | form | distill step ms | speedup | peak MiB '
             '| student ms | teacher ms | status |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in report['rows']:
        if r['status'] != 'ok':
            lines.append(f'| {r["case"]} | | {r["form"]} | | | | | | {r["status"]} |')
            continue
        size = 'x'.join(map(str, r['input_size']))
        lines.append(
            f'| {r["case"]} | {r["batch_size"]}, {size} | {r["form"]} | {r["distill_ms"]:.1f} '
            f'({r["distill_min_ms"]:.1f}-{r["distill_max_ms"]:.1f}) | {r["speedup"]:.2f}x | '
            f'{r["peak_mib"]:.0f} | {r["student_ms"]:.1f} | {r["teacher_ms"]:.1f} | ok |')
    return '\n'.join(lines) + '\n'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='The distillation step on a GPU, CIFAR and ImageNet pairs in each form.')
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--out-dir', default='work_dirs/gpu_report',
                        help='where gpu_report.json and gpu_report.md are written')
    parser.add_argument('--budget-s', type=float, default=360.0,
                        help='device time for all measurements (default 6 minutes)')
    parser.add_argument('--compile-box-s', type=float, default=150.0,
                        help='time box of each compiled measurement, compilation included')
    parser.add_argument('--tiny', action='store_true',
                        help='CPU smoke run: batch 2, small inputs, 1 step, no torch.compile')
    parser.add_argument('--one', nargs=2, metavar=('CASE', 'FORM'), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """Run the report (run from the repository root: configs are read from ``configs/``);
    return it as written to JSON."""
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    device = 'cpu' if args.tiny else args.device
    if args.one:  # a compiled measurement, in its own process
        case = next(c for c in CASES if c.name == args.one[0])
        form = next(f for f in FORMS if f.name == args.one[1])
        print(json.dumps(measure(case, form, device, tiny=False)))
        return {}
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('gpu_report: no CUDA device here; run it on a GPU machine, or with '
                         '--tiny for the CPU smoke run')
    for case in CASES:
        if not Path(case.config).exists():
            raise SystemExit(f'gpu_report: {case.config} not found; run it from the '
                             'repository root')
    start = time.perf_counter()
    rows = run_report(device, args.tiny, args.budget_s, args.compile_box_s)
    report = dict(device=device, device_name=device_name(device), torch=torch.__version__,
                  cuda=torch.version.cuda, date=datetime.datetime.now(datetime.timezone.utc)
                  .strftime('%Y-%m-%d %H:%M UTC'), tiny=args.tiny, budget_s=args.budget_s,
                  elapsed_s=time.perf_counter() - start,
                  command=' '.join(['python tools/analysis_tools/gpu_report.py',
                                    *(argv if argv is not None else sys.argv[1:])]),
                  rows=rows)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'gpu_report.json').write_text(json.dumps(report, indent=1))
    (out / 'gpu_report.md').write_text(markdown(report))
    print(markdown(report))
    print(f'written: {out / "gpu_report.json"}, {out / "gpu_report.md"}')
    return report


if __name__ == '__main__':
    main()
