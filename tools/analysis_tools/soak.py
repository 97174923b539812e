"""Train a config for a long stretch on this machine and report the process's resident memory
after the first tenth of the run and at the end: nothing should accumulate across steps.

    python tools/analysis_tools/soak.py configs/digits/reviewkd_resnet32_resnet8_digits.py \
        --iters 2000 --cfg-options model.teacher.checkpoint=work_dirs/resnet32_digits/epoch_30.pth

Exits with 1 when the resident memory grew by more than ``--max-growth`` percent.
"""
import argparse
import sys

from mmengine.config import DictAction

from rkd.analysis.soak import soak
from rkd.apis import load_config
from rkd.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Resident memory over a long training run')
    parser.add_argument('config', help='a training config')
    parser.add_argument('--iters', type=int, default=2000,
                        help='iterations to train (rounded up to whole epochs)')
    parser.add_argument('--start-iter', type=int,
                        help='the iteration of the first reading (default: a tenth of the run)')
    parser.add_argument('--max-growth', type=float, default=5.0,
                        help='largest resident memory growth in percent that passes')
    parser.add_argument('--work-dir', default='work_dirs/soak', help='where the run writes')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    result = soak(cfg, args.iters, args.start_iter)
    print(result.report())
    if 100 * result.growth > args.max_growth:
        print(f'Resident memory grew by more than {args.max_growth}%.', file=sys.stderr)
        raise SystemExit(1)


if __name__ == '__main__':
    main()
