"""The README's demo: ReviewKD on scikit-learn's handwritten digits, on a CPU, in minutes.

Trains the teacher on every training image, then the student alone and the student with ReviewKD
on a few of them (same seed, same schedule) through mmengine's Runner exactly as tools/train.py
does, evaluates each on the held-out test split and prints their top-1 accuracy. Logs, checkpoints
and the exported student (``reviewkd/student.pth``) stay in the work dir.
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
import time
import traceback
from typing import Dict, List, Optional

from mmengine.runner import find_latest_checkpoint

from rkd.apis import build_runner, load_config
from rkd.utils import register_all_modules

CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'digits')
CONFIGS = {
    'teacher': osp.join(CONFIG_DIR, 'resnet32_digits.py'),
    'student': osp.join(CONFIG_DIR, 'resnet8_digits.py'),
    'reviewkd': osp.join(CONFIG_DIR, 'reviewkd_resnet32_resnet8_digits.py'),
}
ROWS = (('teacher', 'teacher (resnet32)'), ('student', 'student baseline (resnet8)'),
        ('reviewkd', 'student ReviewKD (resnet8)'))
# The paper warms the distillation weight up over 20 of its 240 epochs.
WARMUP_FRACTION = 20 / 240
# --quick: a smoke test of the whole path, numbers meaningless.
QUICK = dict(epochs=2, num_train=20, num_eval=50)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='where logs, checkpoints and the exported student go')
    parser.add_argument('--seed', type=int, default=0, help='seed of all three runs')
    parser.add_argument('--epochs', type=int,
                        help='training epochs of the student runs, alone and with ReviewKD '
                        '(default: the configs\', 60)')
    parser.add_argument('--num-train', type=int,
                        help='training images of the student runs (default: the configs\', 100; '
                        'the teacher trains on all 957)')
    parser.add_argument('--teacher-dtype', choices=['bfloat16', 'float16'],
                        help='run the frozen teacher of the ReviewKD run in this dtype '
                        '(model.teacher.dtype; default: float32)')
    parser.add_argument('--quick', action='store_true',
                        help=f'a smoke test, all three runs: {QUICK["epochs"]} epochs on '
                        f'{QUICK["num_train"]} images, {QUICK["num_eval"]} val/test images')
    return parser.parse_args()


def run_options(args: argparse.Namespace) -> Dict[str, dict]:
    """The ``--cfg-options`` of each run: the student alone and with ReviewKD differ in model
    only; the teacher keeps its own data and schedule unless ``--quick``."""
    common = {'randomness.seed': args.seed}
    student = {}
    if args.quick:
        common.update({'train_cfg.max_epochs': QUICK['epochs'],
                       'param_scheduler.end': QUICK['epochs'],
                       'train_dataloader.dataset.num_train': QUICK['num_train'],
                       'val_dataloader.dataset.indices': QUICK['num_eval'],
                       'test_dataloader.dataset.indices': QUICK['num_eval']})
    else:
        if args.epochs is not None:
            student.update({'train_cfg.max_epochs': args.epochs,
                            'param_scheduler.end': args.epochs})
        if args.num_train is not None:
            student['train_dataloader.dataset.num_train'] = args.num_train
    options = dict(teacher=common, student={**common, **student}, reviewkd={**common, **student})
    if args.teacher_dtype is not None:
        options['reviewkd']['model.teacher.dtype'] = args.teacher_dtype
    epochs = options['reviewkd'].get('train_cfg.max_epochs')
    if epochs is not None:
        options['reviewkd']['model.distiller.warmup.length'] = max(
            1, math.ceil(epochs * WARMUP_FRACTION))
    return options


def train_and_test(config: str, work_dir: str, options: dict) -> dict:
    """Train with tools/train.py's code path, then evaluate the final weights on the test split.

    Returns the test top-1 accuracy, the wall time (build, train and test) and the last checkpoint.
    """
    start = time.perf_counter()
    cfg = load_config(config, options, work_dir)
    runner = build_runner(cfg)
    runner.train()
    metrics = runner.test()
    return dict(top1=float(metrics['accuracy/top1']), seconds=time.perf_counter() - start,
                checkpoint=find_latest_checkpoint(work_dir))


def run_all(args: argparse.Namespace) -> Dict[str, Optional[dict]]:
    """The three runs in order; a failed run is logged and left as None, and ReviewKD needs the
    teacher's checkpoint."""
    options = run_options(args)
    results: Dict[str, Optional[dict]] = dict.fromkeys(CONFIGS)
    for name, config in CONFIGS.items():
        if name == 'reviewkd':
            if results['teacher'] is None:
                print('[demo] skipping ReviewKD: the teacher did not train', flush=True)
                continue
            options[name]['model.teacher.checkpoint'] = results['teacher']['checkpoint']
        print(f'[demo] training {name}: {osp.relpath(config)}', flush=True)
        try:
            results[name] = train_and_test(config, osp.join(args.work_dir, name), options[name])
        except Exception:  # report, go on with what can still run, fail at the end
            traceback.print_exc()
    return results


def format_table(results: Dict[str, Optional[dict]]) -> List[str]:
    """One row a run: test top-1 and wall time, or 'failed'."""
    width = max(len(label) for _, label in ROWS)
    lines = [f'{"model":<{width}}  test top-1 (%)  wall time (s)']
    for name, label in ROWS:
        result = results.get(name)
        if result is None:
            lines.append(f'{label:<{width}}  {"failed":>14}  {"-":>13}')
        else:
            lines.append(f'{label:<{width}}  {result["top1"]:>14.2f}  {result["seconds"]:>13.1f}')
    return lines


def main() -> int:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    os.makedirs(args.work_dir, exist_ok=True)
    results = run_all(args)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(seed=args.seed, results=results), f, indent=2)
    lines = ['', f'ReviewKD on digits (seed {args.seed}), held-out test split:',
             *format_table(results), '', f'logs and checkpoints: {args.work_dir}/']
    if results['reviewkd']:
        lines.append(f'exported student: {osp.join(args.work_dir, "reviewkd", "student.pth")}')
    print('\n'.join(lines))
    return 0 if all(results.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
