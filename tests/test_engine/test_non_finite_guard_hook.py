"""NonFiniteGuardHook and StudentExportHook in a real mmengine Runner on the tiny ReviewKD pair:
NaNs injected mid-run stop it with a message naming what was non-finite, before any weight or
file changes."""
import math
import uuid

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader, Dataset

from rkd.engine.hooks import NonFiniteGuardHook, StudentExportHook
from rkd.utils.non_finite import NonFiniteError

from helpers import reviewkd_algorithm


class Images(Dataset):

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        generator = torch.Generator().manual_seed(index)
        image = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8, generator=generator)
        return dict(inputs=image, data_samples=DataSample().set_gt_label(index % 4))


class AtIteration(Hook):
    """Runs ``action(model)`` at ``stage`` of the given (1-based) iteration."""

    def __init__(self, iteration: int, stage: str, action, priority: str = 'NORMAL') -> None:
        self.iteration, self.action, self.priority = iteration, action, priority
        setattr(self, stage, self._maybe)

    def _maybe(self, runner, *args, **kwargs) -> None:
        if runner.iter + 1 == self.iteration:
            with torch.no_grad():
                self.action(runner.model)


def runner(work_dir, *hooks, teacher_checkpoint=None, max_iters: int = 3) -> Runner:
    return Runner(
        model=reviewkd_algorithm(teacher_checkpoint),
        work_dir=str(work_dir),
        experiment_name=f'guard_{uuid.uuid4().hex}',
        default_scope='mmpretrain',
        train_dataloader=DataLoader(Images(), batch_size=4, shuffle=False,
                                    collate_fn=lambda batch: dict(
                                        inputs=[b['inputs'] for b in batch],
                                        data_samples=[b['data_samples'] for b in batch])),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=list(hooks))


def nan_teacher(model) -> None:
    model.teacher.backbone.conv1.weight[0] = math.nan


def test_a_teacher_turned_nan_stops_before_the_step(tmp_path):
    run = runner(tmp_path, NonFiniteGuardHook(), StudentExportHook(),
                 AtIteration(2, 'before_train_iter', nan_teacher))
    with pytest.raises(NonFiniteError, match=r'Non-finite loss at iteration 2: loss_reviewkd = '
                       r'nan \(the ReviewKD loss; teacher feature non-finite at level\(s\) '
                       r'\[0, 1, 2, 3, 4\] of 5\)\. Training stopped before the optimizer step'):
        run.train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_1.pth']
    saved = torch.load(tmp_path / 'iter_1.pth', map_location='cpu',
                       weights_only=False)['state_dict']  # written by this test
    # the failed step changed no parameter: the student's are those of iteration 1
    for name, value in run.model.student.named_parameters():
        assert torch.equal(value, saved[f'student.{name}']), name


def huge_teacher(model) -> None:
    # finite features whose squares overflow float32, as an SSD teacher's never-initialised
    # L2Norm gave (5e36)
    model.teacher.backbone.conv1.weight.mul_(1e25)


def test_finite_features_with_an_overflowing_loss_name_the_level(tmp_path):
    run = runner(tmp_path, NonFiniteGuardHook(), AtIteration(2, 'before_train_iter', huge_teacher))
    with pytest.raises(NonFiniteError, match=r'loss_reviewkd = inf \(the ReviewKD loss; student '
                       r'and teacher features finite, but the loss overflows at level 0 \(student '
                       r'\(4, 4, 16, 16\), max \|x\| [\d.]+, teacher \(4, 8, 16, 16\), max '
                       r'\|x\| [\d.]+e\+\d+\), .*: squares of values this large overflow'):
        run.train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_1.pth']


def test_a_nan_gradient_stops_before_the_optimizer_step(tmp_path):
    def poison(model):
        model.student.head.fc.weight.register_hook(lambda grad: grad * math.nan)

    run = runner(tmp_path, NonFiniteGuardHook(), AtIteration(2, 'before_train_iter', poison))
    with pytest.raises(NonFiniteError, match=r'Non-finite gradient at iteration 2, the losses '
                       r'being finite, in 1 of \d+ parameters: student\.head\.fc\.weight\.'):
        run.train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_1.pth']
    assert torch.isfinite(run.model.student.head.fc.weight).all()


def test_a_non_finite_checkpoint_is_never_written(tmp_path):
    def overflow(model):
        model.student.head.fc.bias[0] = math.inf

    # after the step and before the CheckpointHook (priority VERY_LOW) saves iteration 2
    run = runner(tmp_path, NonFiniteGuardHook(),
                 AtIteration(2, 'after_train_iter', overflow, priority='HIGH'))
    with pytest.raises(NonFiniteError, match=r'Refusing to save the checkpoint of epoch 0, '
                       r'iteration 2: non-finite weights in 1 of \d+ tensors: '
                       r'student\.head\.fc\.bias\.'):
        run.train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_1.pth']
    assert (tmp_path / 'last_checkpoint').read_text().endswith('iter_1.pth')


def test_a_nan_teacher_checkpoint_stops_before_training(tmp_path):
    from mmengine.runner import save_checkpoint
    teacher = runner(tmp_path / 'build').model.teacher
    with torch.no_grad():
        teacher.backbone.layer2[0].bn1.running_var[3] = math.nan
    save_checkpoint(dict(state_dict=teacher.state_dict()), str(tmp_path / 'teacher.pth'))
    run = runner(tmp_path / 'work', NonFiniteGuardHook(),
                 teacher_checkpoint=str(tmp_path / 'teacher.pth'))
    with pytest.raises(NonFiniteError, match=r'The teacher has non-finite weights \(1 of \d+ '
                       r'tensors: backbone\.layer2\.0\.bn1\.running_var\) before training: check '
                       r'its checkpoint\. Training did not start\.'):
        run.train()
    assert not list((tmp_path / 'work').glob('*.pth'))


def test_the_export_refuses_a_non_finite_student(tmp_path):
    def overflow(model):
        model.student.backbone.conv1.weight[0, 0, 0, 0] = -math.inf

    # no guard (the checkpoint of iteration 1 is written with the -inf): the export refuses
    run = runner(tmp_path, StudentExportHook(), AtIteration(1, 'after_train_iter', overflow),
                 max_iters=1)
    with pytest.raises(NonFiniteError, match=r'Refusing to export the student to .*student\.pth: '
                       r'non-finite weights in 1 of \d+ tensors: backbone\.conv1\.weight\.'):
        run.train()
    assert not (tmp_path / 'student.pth').exists()
