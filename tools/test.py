"""Test (and evaluate) a checkpoint with the task's own test loop and metrics."""
import argparse

from mmengine.evaluator import DumpResults
from mmengine.model import is_model_wrapper

from rkd.apis import (add_runner_args, build_runner, enable_visualization, exit_on_checkpoint_error,
                      load_config, parse_runner_args)
from rkd.checkpoint import load_weights
from rkd.utils import register_all_modules
from rkd.utils.dist import distributed_session


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a model with rkd')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the predictions to this pickle file')
    parser.add_argument('--show-dir', help='draw the predictions into this dir')
    add_runner_args(parser)
    return parse_runner_args(parser)


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    if args.out and not args.out.endswith(('.pkl', '.pickle')):
        raise SystemExit(f'--out must name a .pkl file, got {args.out}')
    cfg.load_from = None  # the runner would load it again, leniently
    with distributed_session(cfg), exit_on_checkpoint_error():
        runner = build_runner(cfg)
        # strict: a checkpoint of another model would test a randomly initialised one
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        load_weights(model, args.checkpoint, 'checkpoint to test')
        if args.out:
            runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
        runner.test()


if __name__ == '__main__':
    main()
