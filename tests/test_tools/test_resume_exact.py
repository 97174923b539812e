"""tools/train.py killed with SIGKILL mid-epoch and resumed with --resume ends with the weights of
the uninterrupted run, bitwise: a ReviewKD distillation on digits with random crop and flip,
one dataloader worker, a fixed seed and deterministic algorithms; and so does a run of two CPU
processes (tools/dist_train.sh), each augmenting in its own process from its own generators."""
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from helpers import reviewkd_algorithm, tiny_classifier

REPO = Path(__file__).parents[2]
BATCHES_PER_EPOCH = 6  # 48 images in batches of 8
KILL_AT_ITER = 8  # a checkpoint every 4 iterations: the 2nd batch of the 2nd epoch

pytestmark = pytest.mark.slow

# A hook that kills its own process, after every other hook of the iteration (the checkpoint).
KILL_HOOK = '''
import os
import signal

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SigkillAtIter(Hook):
    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == int(os.environ.get('KILL_AT_ITER', -1)):
            if torch.distributed.is_initialized():
                torch.distributed.barrier()  # the first process has written the checkpoint
            os.kill(os.getpid(), signal.SIGKILL)
'''


def write_config(path: Path, teacher_checkpoint: str, batch_size: int = 8,
                 num_workers: int = 1) -> None:
    pipeline = [
        dict(type='RandomCrop', crop_size=16, padding=2),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='PackInputs'),
    ]
    cfg = Config(dict(
        _base_=[str(REPO / 'configs/_base_/datasets/digits.py'),
                str(REPO / 'configs/digits/digits_runtime.py')],
        custom_imports=dict(imports=['rkd', 'sigkill_hook'], allow_failed_imports=False),
        model=reviewkd_algorithm(teacher_checkpoint, num_classes=10),
        train_dataloader=dict(
            batch_size=batch_size, num_workers=num_workers,
            dataset=dict(num_train=48, image_size=16, pipeline=pipeline)),
        train_cfg=dict(by_epoch=True, max_epochs=2, val_interval=100),
        param_scheduler=dict(end=2),
        default_hooks=dict(checkpoint=dict(interval=4, by_epoch=False, save_last=True)),
        custom_hooks=[dict(type='SigkillAtIter')],
        val_dataloader=None, val_cfg=None, val_evaluator=None,
        randomness=dict(seed=0, deterministic=True)))
    cfg.dump(str(path))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def start_training(config: Path, work_dir: Path, *args: str, kill_at: int = -1,
                   processes: int = 1) -> subprocess.Popen:
    # one thread: on a busy 2-core machine a second one made each step 10x slower
    env = dict(os.environ, KILL_AT_ITER=str(kill_at), OMP_NUM_THREADS='1', PORT=str(free_port()),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ['PATH']]),
               PYTHONPATH=os.pathsep.join([str(config.parent), os.environ.get('PYTHONPATH', '')]))
    errors = work_dir.parent / f'{work_dir.name}.err'  # read by `finish`
    command = [sys.executable, str(REPO / 'tools/train.py'), str(config)] if processes == 1 \
        else ['bash', str(REPO / 'tools/dist_train.sh'), str(config), str(processes)]
    return subprocess.Popen([*command, '--work-dir', str(work_dir), *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=errors.open('a'))


def finish(run: subprocess.Popen, work_dir: Path, expected: int = 0) -> None:
    """``expected``: the exit code, or None for any failure (torchrun's when a process died)."""
    code = run.wait(timeout=300)
    assert code == expected if expected is not None else code != 0, \
        (work_dir.parent / f'{work_dir.name}.err').read_text()[-3000:]


def write_teacher(tmp_path: Path) -> str:
    import mmpretrain.models  # noqa: F401
    from mmengine.runner import save_checkpoint
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        teacher = MODELS.build(tiny_classifier(base_channels=8, num_classes=10))
    save_checkpoint(dict(state_dict=teacher.state_dict()), str(tmp_path / 'teacher.pth'))
    (tmp_path / 'sigkill_hook.py').write_text(textwrap.dedent(KILL_HOOK))
    return str(tmp_path / 'teacher.pth')


def assert_same_training(expected: Path, resumed: Path) -> None:
    expected, resumed = (torch.load(path, weights_only=False) for path in (expected, resumed))
    trained = [name for name in expected['state_dict'] if not name.startswith('teacher.')]
    assert any(name.startswith('distiller.connector.') for name in trained)
    for name in trained:
        assert torch.equal(expected['state_dict'][name], resumed['state_dict'][name]), name


def test_sigkill_mid_epoch_then_resume_is_bitwise_the_uninterrupted_run(tmp_path):
    config = tmp_path / 'distill.py'
    write_config(config, write_teacher(tmp_path))

    uninterrupted, killed = tmp_path / 'uninterrupted', tmp_path / 'killed'
    runs = [start_training(config, uninterrupted),  # side by side
            start_training(config, killed, kill_at=KILL_AT_ITER)]
    finish(runs[0], uninterrupted)
    finish(runs[1], killed, -signal.SIGKILL)
    assert (killed / f'iter_{KILL_AT_ITER}.pth').exists() and not (killed / 'iter_12.pth').exists()
    assert KILL_AT_ITER % BATCHES_PER_EPOCH != 0  # mid-epoch
    finish(start_training(config, killed, '--resume'), killed)
    assert_same_training(uninterrupted / 'iter_12.pth', killed / 'iter_12.pth')


def test_two_processes_killed_mid_epoch_then_resumed_are_bitwise_the_uninterrupted_run(tmp_path):
    """Without workers each process augments from its own generators: the second process's
    must be saved and restored too (its images, crops and flips differ from the first's)."""
    config = tmp_path / 'distill.py'
    write_config(config, write_teacher(tmp_path), batch_size=4, num_workers=0)  # 6 per epoch

    uninterrupted, killed = tmp_path / 'uninterrupted', tmp_path / 'killed'
    runs = [start_training(config, uninterrupted, processes=2),
            start_training(config, killed, kill_at=KILL_AT_ITER, processes=2)]
    finish(runs[0], uninterrupted)
    finish(runs[1], killed, expected=None)
    assert (killed / f'iter_{KILL_AT_ITER}.pth').exists() and not (killed / 'iter_12.pth').exists()
    finish(start_training(config, killed, '--resume', processes=2), killed)
    assert_same_training(uninterrupted / 'iter_12.pth', killed / 'iter_12.pth')
