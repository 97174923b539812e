"""What tools/train.py and tools/test.py do to a config before building the Runner."""
import argparse
import contextlib
import logging
import os
import os.path as osp
import sys
from typing import Iterator, Optional, Tuple

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner, find_latest_checkpoint

from rkd.checkpoint import CheckpointLoadError
from rkd.engine.compat import install_safe_loaders
from rkd.utils.non_finite import NonFiniteError


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """The options every OpenMMLab train/test script shares."""
    parser.add_argument('--work-dir', help='the dir to save logs, models and metrics')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(config_file: str, cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None, launcher: str = 'none') -> Config:
    """Read a config, merge ``--cfg-options`` and set the work dir the OpenMMLab way:
    the command line, else the config's ``work_dir``, else ``./work_dirs/<config name>``."""
    cfg = Config.fromfile(config_file)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_file))[0])
    return cfg


def enable_amp(cfg: Config) -> None:
    """Train with mixed precision: mmengine's AmpOptimWrapper with a dynamic loss scale."""
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def enable_auto_scale_lr(cfg: Config) -> None:
    """Let mmengine scale the lr by the real batch size over ``auto_scale_lr.base_batch_size``."""
    if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
        raise RuntimeError('--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=...)` in '
                           'the config: the batch size its learning rate was tuned for.')
    cfg.auto_scale_lr.enable = True


def set_resume(cfg: Config, resume: Optional[str]) -> None:
    """``'auto'``: the latest checkpoint of the work dir; a path: that checkpoint."""
    if resume is None:
        return
    cfg.resume = True
    cfg.load_from = None if resume == 'auto' else resume
    if resume == 'auto' and find_latest_checkpoint(cfg.work_dir) is None:
        # mmengine logs "Auto resumed from the latest checkpoint None." and starts afresh
        print_log(f'--resume found no checkpoint in the work dir "{cfg.work_dir}" (it has no '
                  'last_checkpoint): training starts from the beginning. Check --work-dir, or '
                  'name the checkpoint: --resume PATH.', logger='current', level=logging.WARNING)


def start_checkpoint(cfg: Config) -> Tuple[str, Optional[str]]:
    """The role and file of the checkpoint a training run starts from, as the runner picks it:
    the resumed one (``load_from``, else the work dir's latest), else ``load_from``, else None."""
    if cfg.get('resume'):
        return 'resume checkpoint', cfg.get('load_from') or find_latest_checkpoint(cfg.work_dir)
    return 'checkpoint to start from (load_from)', cfg.get('load_from')


@contextlib.contextmanager
def exit_on_checkpoint_error() -> Iterator[None]:
    """A checkpoint that cannot be loaded or saved ends a tool with rkd's message, not a
    traceback."""
    try:
        yield
    except (CheckpointLoadError, NonFiniteError) as error:
        print(f'rkd: {error}', file=sys.stderr)
        raise SystemExit(1) from None


def enable_visualization(cfg: Config, show_dir: str) -> None:
    """Make the task's visualization hook draw test results into ``show_dir``.

    The three task packages name the switches differently (mmpretrain: ``enable``/``out_dir``,
    mmdet: ``draw``/``test_out_dir``, mmseg: ``draw`` plus the visualizer's ``save_dir``).
    """
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise RuntimeError('--show-dir needs a `visualization` hook in `default_hooks`.')
    hook_type = str(hook.get('type', ''))
    if hook_type.endswith('DetVisualizationHook'):
        hook.update(draw=True, test_out_dir=show_dir)
    elif hook_type.endswith('SegVisualizationHook'):
        hook.update(draw=True)
        cfg.visualizer.save_dir = show_dir
    else:
        hook.update(enable=True, out_dir=show_dir)


def build_runner(cfg: Config) -> Runner:
    """mmengine's Runner, or the one the config names in ``runner_type``, loading every
    checkpoint through rkd's safe loaders (``--resume``, ``load_from``, pretrained weights)."""
    install_safe_loaders()
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
