"""Faults of a training run that users meet: a full disk while a checkpoint is written, two runs
on one work dir, gradient accumulation, validation during the warm-up, a last batch of one
image, a SIGTERM. Runs are tiny digits distillations, in this process where that is enough."""
import errno
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from rkd.apis import build_runner, set_resume
from rkd.checkpoint import safe_torch_load
from rkd.datasets.empty_dataset import explained_empty_dataset
from rkd.registry import MODELS
from rkd.utils.work_dir_lock import LOCK_FILE, exclusive_work_dir

from helpers import reviewkd_algorithm, tiny_classifier

REPO = Path(__file__).parents[2]


def digits_config(work_dir: Path, max_iters: int = 2, **overrides) -> Config:
    """A tiny ReviewKD run on 16x16 digits: 20 training images in batches of 4, a randomly
    initialised teacher, an atomic checkpoint every iteration."""
    cfg = Config(dict(
        _base_=[str(REPO / 'configs/_base_/datasets/digits.py'),
                'mmpretrain::_base_/default_runtime.py'],
        model=reviewkd_algorithm(num_classes=10),
        train_dataloader=dict(batch_size=4, dataset=dict(num_train=20, image_size=16)),
        val_dataloader=dict(batch_size=50, dataset=dict(num_val=50, image_size=16)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=1000),
        val_cfg=dict(),
        test_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        default_hooks=dict(
            checkpoint=dict(type='rkd.AtomicCheckpointHook', interval=1, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1),
            random_state=dict(type='rkd.RandomStateHook')),
        randomness=dict(seed=0),
        work_dir=str(work_dir)))
    cfg.merge_from_dict(overrides)
    path = work_dir.parent / f'{work_dir.name}_config.py'  # its bases are read from a file
    cfg.dump(str(path))
    return Config.fromfile(str(path))


def train(cfg: Config) -> Runner:
    runner = build_runner(cfg)  # as tools/train.py builds it: checkpoints load safely
    runner.train()
    return runner


def test_a_full_disk_while_a_checkpoint_is_written_keeps_the_last_good_one(tmp_path, monkeypatch):
    real_fsync, synced = os.fsync, []

    def fsync_failing_on_the_second_checkpoint(fd):
        name = os.readlink(f'/proc/self/fd/{fd}')
        synced.append(name)
        if '.iter_2.pth' in name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', fsync_failing_on_the_second_checkpoint)
    with pytest.raises(OSError, match='No space left on device'):
        train(digits_config(tmp_path / 'work', max_iters=3))
    monkeypatch.setattr(os, 'fsync', real_fsync)
    work = tmp_path / 'work'
    assert any('.iter_2.pth' in name for name in synced)
    assert sorted(path.name for path in work.glob('*.pth')) == ['iter_1.pth']
    assert not list(work.glob('.*partial'))  # the cut write is removed
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_1.pth')
    checkpoint = safe_torch_load(str(work / 'iter_1.pth'), map_location='cpu')
    assert checkpoint['meta']['iter'] == 1

    resumed = train(digits_config(work, max_iters=3, resume=True))
    assert resumed.iter == 3 and (work / 'iter_3.pth').exists()


def test_a_second_run_on_a_busy_work_dir_stops_before_writing(tmp_path, capsys):
    work = tmp_path / 'work'
    with exclusive_work_dir(str(work)):
        with pytest.raises(SystemExit) as second:
            with exclusive_work_dir(str(work)):
                pass
        assert second.value.code == 1
        assert f'rkd: Another training run (pid {os.getpid()}) is using the work dir' in \
            capsys.readouterr().err
    with exclusive_work_dir(str(work)):  # released with the run that held it
        pass
    # only rank 0 of a multi-process run takes it: the other ranks share the work dir
    with exclusive_work_dir(str(work)), mock.patch.dict(os.environ, RANK='1'):
        with exclusive_work_dir(str(work), launcher='pytorch'):
            pass


@pytest.mark.slow
def test_train_py_refuses_a_work_dir_in_use(tmp_path):
    work = tmp_path / 'work'
    config = tmp_path / 'distill.py'
    digits_config(work).dump(str(config))
    with exclusive_work_dir(str(work)):  # tools/train.py takes the lock before anything else
        run = subprocess.run(
            [sys.executable, str(REPO / 'tools/train.py'), str(config), '--work-dir', str(work)],
            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr[-2000:]
    assert f'Another training run (pid {os.getpid()}) is using the work dir "{work}"; two runs ' \
        'there would overwrite each other' in run.stderr and 'Traceback' not in run.stderr
    assert sorted(path.name for path in work.iterdir()) == [LOCK_FILE]
    assert (work / LOCK_FILE).read_bytes() == b''  # a run leaves the work dir's bytes alone


@pytest.fixture
def warmup_epoch_one():
    """build_model's warm-up reads the message hub's epoch: 1 of 2 gives factor 0.5."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_current_instance()
    epoch = hub.get_info('epoch')
    hub.update_info('epoch', 1)
    yield
    hub.update_info('epoch', epoch)


def build_model(seed: int = 0):
    import mmpretrain.models  # noqa: F401
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(reviewkd_algorithm(num_classes=4, warmup=dict(length=2)))


def test_gradient_accumulation_equals_the_large_batch_step(warmup_epoch_one):
    from mmpretrain.structures import DataSample
    images = list(torch.rand(8, 3, 16, 16) * 255)
    samples = [DataSample().set_gt_label(i % 4) for i in range(8)]
    results = []
    for accumulative_counts, batch_size in ((1, 8), (4, 2)):
        # eval mode: BatchNorm normalises with its running statistics, the same in both runs
        model = build_model().eval()
        wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1),
                               accumulative_counts=accumulative_counts)
        wrapper.initialize_count_status(model, 0, 10)
        for start in range(0, 8, batch_size):
            data = model.data_preprocessor(dict(inputs=images[start:start + batch_size],
                                                data_samples=samples[start:start + batch_size]))
            losses = model(**data, mode='loss')
            assert float(losses['reviewkd_warmup']) == 0.5  # epoch 1 of a 2-epoch warm-up
            loss, _ = model.parse_losses(losses)
            wrapper.update_params(loss)
        results.append(dict(model.named_parameters()))
    large, accumulated = results
    assert any(not torch.equal(p, build_model().state_dict()[name]) for name, p in large.items()
               if name.startswith('distiller.'))  # the step trained the connector
    for name, parameter in large.items():
        torch.testing.assert_close(accumulated[name], parameter, rtol=1e-4, atol=1e-6,
                                   msg=name)


def test_validation_during_the_warm_up_leaves_it_as_it_was(tmp_path):
    cfg = digits_config(tmp_path / 'work', max_iters=4,
                        train_cfg=dict(val_interval=1),
                        model=dict(distiller=dict(warmup=dict(length=4, by_epoch=False))))
    runner = train(cfg)
    warmup, _ = runner.message_hub.get_scalar('train/reviewkd_warmup').data
    assert warmup.tolist() == [0.0, 0.25, 0.5, 0.75]
    accuracy, counts = runner.message_hub.get_scalar('val/accuracy/top1').data
    assert len(accuracy) == 4  # validated after each iteration, the student alone


def test_a_last_batch_of_one_image_stops_with_what_to_set(tmp_path):
    # 10 images in batches of 3: the 4th batch holds 1
    cfg = digits_config(tmp_path / 'work', max_iters=4, val_dataloader=None, val_cfg=None,
                        val_evaluator=None,
                        train_dataloader=dict(batch_size=3, dataset=dict(num_train=10)))
    with pytest.raises(ValueError, match='A training batch of 1 image .* set drop_last=True'):
        train(cfg)
    work = tmp_path / 'work'
    assert sorted(path.name for path in work.glob('*.pth')) == [
        'iter_1.pth', 'iter_2.pth', 'iter_3.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_3.pth')

    cfg.train_dataloader.drop_last = True  # the advice
    cfg.work_dir = str(tmp_path / 'dropped')
    assert train(cfg).iter == 4


@pytest.mark.slow
def test_sigterm_mid_epoch_then_resume_is_bitwise_the_uninterrupted_run(tmp_path):
    """A scheduler's SIGTERM (preemption, a time limit) ends the run where it is, as SIGKILL
    does: the resumed run ends with the uninterrupted run's weights, bit for bit."""
    import test_resume_exact as exact
    from mmengine.runner import save_checkpoint
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        teacher = MODELS.build(tiny_classifier(base_channels=8, num_classes=10))
    save_checkpoint(dict(state_dict=teacher.state_dict()), str(tmp_path / 'teacher.pth'))
    (tmp_path / 'sigkill_hook.py').write_text(  # the module the config imports, with SIGTERM
        textwrap.dedent(exact.KILL_HOOK).replace('signal.SIGKILL', 'signal.SIGTERM'))
    config = tmp_path / 'distill.py'
    exact.write_config(config, str(tmp_path / 'teacher.pth'))

    uninterrupted, stopped = tmp_path / 'uninterrupted', tmp_path / 'stopped'
    runs = [exact.start_training(config, uninterrupted),
            exact.start_training(config, stopped, kill_at=exact.KILL_AT_ITER)]
    exact.finish(runs[0], uninterrupted)
    exact.finish(runs[1], stopped, -signal.SIGTERM)
    assert (stopped / f'iter_{exact.KILL_AT_ITER}.pth').exists()
    assert not (stopped / 'iter_12.pth').exists()
    exact.finish(exact.start_training(config, stopped, '--resume'), stopped)

    expected = safe_torch_load(str(uninterrupted / 'iter_12.pth'), map_location='cpu')
    resumed = safe_torch_load(str(stopped / 'iter_12.pth'), map_location='cpu')
    trained = [name for name in expected['state_dict'] if not name.startswith('teacher.')]
    assert any(name.startswith('distiller.connector.') for name in trained)
    for name in trained:
        assert torch.equal(expected['state_dict'][name], resumed['state_dict'][name]), name


@pytest.mark.parametrize('source', ['digits indices', 'empty annotation file'])
def test_an_empty_validation_set_is_named_before_training(tmp_path, source):
    cfg = digits_config(tmp_path / 'work')
    if source == 'digits indices':
        cfg.val_dataloader.dataset.indices = 0
    else:
        (tmp_path / 'val.txt').write_text('')
        cfg.val_dataloader.dataset = dict(
            type='CustomDataset', data_root=str(tmp_path), ann_file=str(tmp_path / 'val.txt'),
            pipeline=[dict(type='PackInputs')])
    with pytest.raises(ValueError, match=r"The val_dataloader's dataset is empty: "
                       r"(DigitsDataset|CustomDataset) found no sample .* to train without "
                       'validation, set val_dataloader, val_cfg and val_evaluator to None'):
        with explained_empty_dataset():  # as tools/train.py runs the runner
            train(cfg)
    assert not list((tmp_path / 'work').glob('*.pth'))


def test_resume_without_a_checkpoint_in_the_work_dir_warns(tmp_path):
    cfg = digits_config(tmp_path / 'mistyped')
    with mock.patch('rkd.apis.config.print_log') as log:
        set_resume(cfg, 'auto')
    assert cfg.resume and cfg.load_from is None
    message = log.call_args.args[0]
    assert message.startswith(f'--resume found no checkpoint in the work dir "{tmp_path}/mistyped"')
    assert 'training starts from the beginning' in message
    assert log.call_args.kwargs['level'] == logging.WARNING

    (tmp_path / 'work').mkdir()
    (tmp_path / 'work' / 'iter_1.pth').write_bytes(b'')
    (tmp_path / 'work' / 'last_checkpoint').write_text(str(tmp_path / 'work' / 'iter_1.pth'))
    for resume, work in (('auto', 'work'), (str(tmp_path / 'x.pth'), 'mistyped')):
        with mock.patch('rkd.apis.config.print_log') as log:
            set_resume(digits_config(tmp_path / work), resume)
        log.assert_not_called()
