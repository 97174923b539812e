"""StudentUpdateCheckHook: a first optimizer step that changes nothing of the student stops the
run with its cause; a run that trains, or accumulates gradients before its first step, goes on."""
import uuid
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from test_non_finite_guard_hook import Images
from torch.utils.data import DataLoader

from rkd.engine.hooks import FrozenStudentError, StudentUpdateCheckHook
from rkd.registry import MODELS

from helpers import reviewkd_algorithm


def collate(batch):
    return dict(inputs=[b['inputs'] for b in batch],
                data_samples=[b['data_samples'] for b in batch])


class FreezeStudent(Hook):
    """What a user's hook might do: freeze the student before training."""

    def before_train(self, runner) -> None:
        runner.model.student.requires_grad_(False)


def train(tmp_path, *hooks, max_iters: int = 1, model=None, optim_wrapper=None,
          **optim_options) -> Runner:
    runner = Runner(
        model=model or reviewkd_algorithm(), work_dir=str(tmp_path),
        experiment_name=f'student_check_{uuid.uuid4().hex}', default_scope='mmpretrain',
        train_dataloader=DataLoader(Images(), batch_size=2, collate_fn=collate),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=optim_wrapper or dict(optimizer=dict(type='SGD', lr=0.01), **optim_options),
        default_hooks=dict(checkpoint=None),
        custom_hooks=[*hooks, StudentUpdateCheckHook()])
    runner.train()
    return runner


def test_a_student_frozen_after_build_stops_the_first_step(tmp_path):
    with pytest.raises(FrozenStudentError, match='requires_grad=False now: something froze'):
        train(tmp_path, FreezeStudent())


def test_a_student_at_lr_0_is_named(tmp_path):
    custom = dict(student=dict(lr_mult=0.0))  # the student's lr only
    with pytest.raises(FrozenStudentError, match='learning rate is 0'):
        train(tmp_path, paramwise_cfg=dict(custom_keys=custom))


def test_a_student_left_out_of_the_optimizer_is_named(tmp_path, mmpretrain_scope):
    model = MODELS.build(reviewkd_algorithm())
    distiller_only = OptimWrapper(torch.optim.SGD(model.distiller.parameters(), lr=0.01))
    with pytest.raises(FrozenStudentError, match='None of them is in the optimizer'):
        train(tmp_path, model=model, optim_wrapper=distiller_only)


def test_a_run_that_trains_the_student_goes_on(tmp_path):
    runner = train(tmp_path, max_iters=2)
    assert runner.iter == 2


def test_gradient_accumulation_postpones_the_check_to_the_first_step(tmp_path):
    hook = StudentUpdateCheckHook()
    runner = Runner(
        model=reviewkd_algorithm(), work_dir=str(tmp_path),
        experiment_name=f'student_check_{uuid.uuid4().hex}', default_scope='mmpretrain',
        train_dataloader=DataLoader(Images(), batch_size=2, collate_fn=collate),
        train_cfg=dict(by_epoch=False, max_iters=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01), accumulative_counts=2),
        default_hooks=dict(checkpoint=None), custom_hooks=[hook])
    runner.train()
    assert runner.iter == 2 and hook._checked  # at the second iteration: the first step


def test_a_student_frozen_by_its_config_is_not_checked(tmp_path, mmpretrain_scope):
    model = MODELS.build(reviewkd_algorithm())
    model.student.requires_grad_(False)
    model._check_trainable()  # as if its config froze it: warned at build, then a choice
    runner = train(tmp_path, model=model)
    assert runner.iter == 1 and model.student_trainable == ()


class Scaler:
    """AMP's loss scaler as the hook reads it: the scale halves when a step was skipped."""

    def __init__(self, scales) -> None:
        self.scales = iter(scales)

    def get_scale(self) -> float:
        return next(self.scales)


@pytest.mark.parametrize('second_step_trains', [True, False])
def test_a_step_amp_skipped_postpones_the_check(second_step_trains):
    model = torch.nn.Module()
    model.student = torch.nn.Linear(2, 2)
    model.student_trainable = ('weight', 'bias')
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    # the scale before the first step, after it (halved: skipped), after the second (kept)
    optim_wrapper = SimpleNamespace(optimizer=optimizer, should_update=lambda: True,
                                    loss_scaler=Scaler([2.0**16, 2.0**15, 2.0**15]))
    runner = SimpleNamespace(model=model, optim_wrapper=optim_wrapper)
    hook = StudentUpdateCheckHook()
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    hook.after_train_iter(runner, 0)  # unchanged, but AMP skipped the step: no verdict yet
    assert not hook._checked
    hook.before_train_iter(runner, 1)
    if second_step_trains:
        with torch.no_grad():
            model.student.bias.add_(1)
        hook.after_train_iter(runner, 1)
        assert hook._checked
    else:
        with pytest.raises(FrozenStudentError, match='no gradient reached them'):
            hook.after_train_iter(runner, 1)
