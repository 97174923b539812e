"""setup_cpu_distributed: what a torchrun launch without CUDA changes in a config;
distributed_session: the group it creates is gone when the tool's work ends."""
import contextlib
import socket

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config

from rkd.utils.dist import distributed_session, setup_cpu_distributed

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path only')


@pytest.fixture
def torchrun_env(monkeypatch):
    """The variables torchrun sets, for a world of one process; the group is removed after."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    for name, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                            MASTER_PORT=str(port)).items():
        monkeypatch.setenv(name, value)
    yield
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def test_without_launcher_nothing_changes():
    cfg = Config(dict(launcher='none', env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    setup_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg


def test_pytorch_launcher_gets_gloo_a_process_group_and_ddp_without_device_ids(torchrun_env):
    cfg = Config(dict(launcher='pytorch', find_unused_parameters=True,
                      env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60))))
    setup_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert torch_dist.is_initialized() and torch_dist.get_backend() == 'gloo'
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                                         find_unused_parameters=True, device_ids=None)


@pytest.mark.parametrize('wrapper, expected', [
    (dict(type='MMDistributedDataParallel', find_unused_parameters=True),
     dict(type='MMDistributedDataParallel', find_unused_parameters=True, device_ids=None)),
    (dict(type='MMFullyShardedDataParallel'), dict(type='MMFullyShardedDataParallel')),
])
def test_a_configured_wrapper_is_kept(torchrun_env, wrapper, expected):
    cfg = Config(dict(launcher='pytorch', model_wrapper_cfg=wrapper))
    setup_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == expected


def test_other_launchers_say_how_to_run_on_cpu():
    with pytest.raises(RuntimeError, match='torchrun and --launcher pytorch'):
        setup_cpu_distributed(Config(dict(launcher='slurm')))


@pytest.mark.parametrize('fails', [False, True])
def test_the_session_destroys_its_process_group(torchrun_env, fails):
    cfg = Config(dict(launcher='pytorch'))
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
        with distributed_session(cfg):
            assert torch_dist.is_initialized()
            if fails:
                raise RuntimeError('the run failed')
    assert not torch_dist.is_initialized()
