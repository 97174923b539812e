"""Distributed training on a machine without CUDA (torchrun, gloo).

mmengine 0.10.7 cannot start it: its ``init_dist`` calls ``torch.cuda.set_device`` before it
creates the process group, and its Runner wraps the model in DDP with
``device_ids=[LOCAL_RANK]``, which DDP refuses for a CPU module. The Runner initialises the
process group only when none exists, so rkd creates it beforehand, the same way minus that call,
and asks for DDP without device ids. Machines with CUDA are left to mmengine.
"""
import datetime
import os
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel


def setup_cpu_distributed(cfg: Config) -> None:
    """Prepare a ``--launcher pytorch`` run for CPU processes, before the Runner is built.

    Without CUDA: the process group uses ``gloo`` where the config asks for ``nccl`` (a GPU-only
    backend), and the default DDP wrapper gets ``device_ids=None``. A config's own
    ``model_wrapper_cfg`` is kept; a DDP one gets ``device_ids`` None unless it sets them.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs CUDA with mmengine 0.10.7 (it picks a GPU per process). '
            'On CPU machines start the processes with torchrun and --launcher pytorch, e.g. '
            'tools/dist_train.sh CONFIG NUM_PROCESSES.')
    cfg.merge_from_dict(dict(env_cfg=dict(dist_cfg=dict())))  # make sure both exist
    dist_cfg = cfg.env_cfg.dist_cfg
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    if not torch_dist.is_initialized():
        # what mmengine's init_dist passes on (dist_cfg but the backends), timeout in seconds
        kwargs = {k: v for k, v in dist_cfg.items() if k not in ('backend', 'init_backend')}
        if kwargs.get('timeout') is not None:
            kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
        torch_dist.init_process_group(
            backend=dist_cfg['backend'], rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']), **kwargs)
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper = cfg.model_wrapper_cfg.get('type', 'MMDistributedDataParallel')
    if isinstance(wrapper, str):
        wrapper = MODEL_WRAPPERS.get(wrapper)
    if isinstance(wrapper, type) and issubclass(wrapper, DistributedDataParallel):
        cfg.model_wrapper_cfg.setdefault('device_ids', None)  # mmengine would pass LOCAL_RANK
    print_log(f'No CUDA: {torch_dist.get_world_size()} CPU processes, '
              f'{dist_cfg["backend"]} backend, DDP without device ids.', logger='current')


@contextmanager
def distributed_session(cfg: Config) -> Iterator[None]:
    """A tool's run: the CPU process group set up before it, any process group destroyed after.

    mmengine never destroys the group it creates. A process that exits with a live gloo group can
    abort in its own teardown ("terminate called without an active exception", SIGABRT) after the
    work is done, so torchrun reports a failed run; destroying the group first joins its threads.
    """
    setup_cpu_distributed(cfg)
    try:
        yield
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
