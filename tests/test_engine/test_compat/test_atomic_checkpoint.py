"""AtomicCheckpointHook: a SIGKILL in the middle of writing a checkpoint leaves the previous one
complete and ``last_checkpoint`` pointing at it, even with ``max_keep_ckpts=1``, and the run
resumes from it; mmengine's CheckpointHook, killed the same way, leaves nothing loadable. A crash
while ``save_best`` replaces the best checkpoint leaves a loadable best."""
import hashlib
import inspect
import subprocess
import sys
import textwrap
import uuid

import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner import runner as runner_module

from rkd.engine.compat import AtomicLocalBackend

# A toy run saving a checkpoint each iteration. `kill`: its second checkpoint write is killed
# half-way; `resume`: it resumes from the work dir's last checkpoint.
KILLED_RUN = '''
import builtins
import os
import signal
import sys

import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner import runner as runner_module

if sys.argv[2].startswith('rkd.'):
    from rkd.engine.compat import install_safe_loaders
    install_safe_loaders()  # as rkd's tools do: the resume loads through mmengine's loader

real_open = builtins.open
checkpoint_writes = 0


class HalfThenKill:
    def __init__(self, file):
        self.file = file

    def write(self, data):
        self.file.write(data[:len(data) // 2])
        self.file.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def open_killing_the_second_checkpoint(path, mode='r', *args, **kwargs):
    global checkpoint_writes
    file = real_open(path, mode, *args, **kwargs)
    if 'w' in mode and '.pth' in os.path.basename(str(path)):
        checkpoint_writes += 1
        if checkpoint_writes == 2:
            return HalfThenKill(file)
    return file


class Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def forward(self, inputs, mode='tensor'):
        return dict(loss=self.layer(inputs).pow(2).mean())


if sys.argv[3] == 'kill':
    builtins.open = open_killing_the_second_checkpoint
Runner(
    model=Toy(), work_dir=sys.argv[1], default_scope='rkd',
    train_dataloader=dict(dataset=[dict(inputs=torch.ones(2))] * 4, batch_size=1, num_workers=0,
                          collate_fn=dict(type='default_collate'),
                          sampler=dict(type='DefaultSampler', shuffle=False)),
    train_cfg=dict(by_epoch=False, max_iters=3),
    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
    default_hooks=dict(checkpoint=dict(type=sys.argv[2], interval=1, by_epoch=False,
                                       max_keep_ckpts=1)),
    resume=sys.argv[3] == 'resume', log_level='WARNING').train()
'''


def run(tmp_path, hook_type: str, action: str) -> int:
    script = tmp_path / 'run.py'
    script.write_text(textwrap.dedent(KILLED_RUN))
    result = subprocess.run([sys.executable, str(script), str(tmp_path / 'work'), hook_type,
                             action], capture_output=True, timeout=120)
    assert result.returncode in (0, -9), result.stderr.decode()[-2000:]
    return result.returncode


def killed_run(tmp_path, hook_type: str):
    assert run(tmp_path, hook_type, 'kill') == -9
    return tmp_path / 'work'


@pytest.mark.slow
def test_kill_during_saving_leaves_the_previous_checkpoint(tmp_path):
    work_dir = killed_run(tmp_path, 'rkd.AtomicCheckpointHook')
    assert not (work_dir / 'iter_2.pth').exists()  # no part of the killed write under its name
    last = (work_dir / 'last_checkpoint').read_text()
    assert last.endswith('iter_1.pth')
    checkpoint = torch.load(last, weights_only=False)
    assert checkpoint['meta']['iter'] == 1 and 'layer.weight' in checkpoint['state_dict']
    assert len(list(work_dir.glob('.iter_2.pth.*.rkd-partial'))) == 1  # what the kill left

    assert run(tmp_path, 'rkd.AtomicCheckpointHook', 'resume') == 0
    assert (work_dir / 'last_checkpoint').read_text().endswith('iter_3.pth')
    assert sorted(path.name for path in work_dir.glob('*.pth')) == ['iter_3.pth']
    assert not list(work_dir.glob('.*.rkd-partial'))  # removed when training started again


@pytest.mark.slow
def test_mmengine_hook_killed_the_same_way_leaves_nothing_loadable(tmp_path):
    """What the hook fixes (and proof that the kill lands inside the write)."""
    work_dir = killed_run(tmp_path, 'CheckpointHook')
    assert not (work_dir / 'iter_1.pth').exists()  # removed before the new one was written
    with pytest.raises(Exception):
        torch.load(work_dir / 'iter_2.pth', weights_only=False)  # truncated


def test_atomic_backend_replaces_whole_files(tmp_path):
    backend = AtomicLocalBackend()
    backend.put(b'old', tmp_path / 'sub' / 'file')
    backend.put_text('new', tmp_path / 'sub' / 'file')
    assert (tmp_path / 'sub' / 'file').read_text() == 'new'
    assert [path.name for path in (tmp_path / 'sub').iterdir()] == ['file']  # no temporary left
    (tmp_path / 'plain').write_text('')
    assert (tmp_path / 'sub' / 'file').stat().st_mode == (tmp_path / 'plain').stat().st_mode


class Toy(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def forward(self, inputs, mode='tensor'):
        if mode == 'loss':
            return dict(loss=self.layer(inputs).pow(2).mean())
        return [dict()]


class Improving(BaseMetric):
    """A score that improves at every validation: each one writes a new best checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def process(self, data_batch, data_samples) -> None:
        self.results.append(0)

    def compute_metrics(self, results) -> dict:
        self.calls += 1
        return dict(score=float(self.calls))


def train_saving_best(work_dir, hook_type: str) -> None:
    loader = dict(dataset=[dict(inputs=torch.ones(2))] * 2, batch_size=1, num_workers=0,
                  collate_fn=dict(type='default_collate'),
                  sampler=dict(type='DefaultSampler', shuffle=False))
    Runner(
        model=Toy(), work_dir=str(work_dir), experiment_name=uuid.uuid4().hex,
        train_dataloader=loader, val_dataloader=loader, val_cfg=dict(),
        val_evaluator=[Improving()], train_cfg=dict(by_epoch=False, max_iters=3, val_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=dict(type=hook_type, interval=1, by_epoch=False,
                                           save_best='score', rule='greater')),
        log_level='WARNING').train()


def crash_on(monkeypatch, owner, method: str, name: str) -> None:
    """Make ``owner.method`` raise, as a kill would stop it, when it is given the file ``name``."""
    real = getattr(owner, method)

    def crashing(*args, **kwargs):
        if any(str(arg).endswith(name) for arg in args):
            raise KeyboardInterrupt(f'crash in {method}({name})')
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, method, crashing)


def loadable_best(work_dir) -> list:
    bests = sorted(work_dir.glob('best_*.pth'))
    return [torch.load(path, weights_only=False)['meta']['iter'] for path in bests]


@pytest.mark.parametrize('hook_type, left', [
    ('rkd.AtomicCheckpointHook', [1]),
    ('CheckpointHook', []),  # what the hook fixes: mmengine removed the old best first
])
def test_a_crash_writing_the_new_best_leaves_the_old_one(tmp_path, monkeypatch, hook_type, left):
    crash_on(monkeypatch, runner_module, 'save_checkpoint', 'best_score_iter_2.pth')
    with pytest.raises(KeyboardInterrupt):
        train_saving_best(tmp_path, hook_type)
    assert loadable_best(tmp_path) == left


def test_a_crash_between_writing_the_new_best_and_removing_the_old_leaves_both(
        tmp_path, monkeypatch):
    crash_on(monkeypatch, LocalBackend, 'remove', 'best_score_iter_1.pth')
    with pytest.raises(KeyboardInterrupt):
        train_saving_best(tmp_path, 'rkd.AtomicCheckpointHook')
    assert loadable_best(tmp_path) == [1, 2]


def test_save_best_keeps_the_best_only(tmp_path):
    train_saving_best(tmp_path, 'rkd.AtomicCheckpointHook')
    assert [path.name for path in tmp_path.glob('best_*.pth')] == ['best_score_iter_3.pth']
    assert loadable_best(tmp_path) == [3]


@pytest.mark.parametrize('method, digest', [
    ('_save_checkpoint_with_step', 'cdbc1b54c7c88d95'),  # copied, with the removal moved last
    ('_save_best_checkpoint', '8e1e477297ea08d7'),  # wrapped: removes through self.file_backend
])
def test_the_mmengine_methods_the_hook_replaces_are_unchanged(method, digest):
    """Fails when mmengine changes them: compare its new version with AtomicCheckpointHook's
    (and keep the tests above, which show whether mmengine still removes before writing)."""
    source = inspect.getsource(getattr(CheckpointHook, method))
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == digest
