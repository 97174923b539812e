"""Train a model (a distillation or a plain teacher/student) from a config with mmengine."""
import argparse

from rkd.apis import (add_runner_args, build_runner, enable_amp, enable_auto_scale_lr,
                      exit_on_checkpoint_error, load_config, parse_runner_args, set_resume,
                      start_checkpoint)
from rkd.checkpoint import checkpoint_role
from rkd.datasets.empty_dataset import explained_empty_dataset
from rkd.engine.hooks import FrozenStudentError
from rkd.utils import register_all_modules
from rkd.utils.dist import distributed_session
from rkd.utils.non_finite import NonFiniteError
from rkd.utils.work_dir_lock import exclusive_work_dir


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model with rkd')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or without a path from the latest '
                        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the real batch size')
    add_runner_args(parser)
    return parse_runner_args(parser)


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    set_resume(cfg, args.resume)
    with distributed_session(cfg), exclusive_work_dir(cfg.work_dir, cfg.launcher), \
            exit_on_checkpoint_error(), checkpoint_role(*start_checkpoint(cfg)):
        runner = build_runner(cfg)
        try:
            with explained_empty_dataset():
                runner.train()
        # why, in the run's log and on the console; no traceback
        except (NonFiniteError, FrozenStudentError) as error:
            runner.logger.error(f'rkd: {error}')
            raise SystemExit(1) from None


if __name__ == '__main__':
    main()
