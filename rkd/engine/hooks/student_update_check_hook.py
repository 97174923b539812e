"""The first optimizer step of a run must change the student.

A student frozen after the model was built (a hook or a line of code setting
``requires_grad=False``), left out of the optimizer, or given a learning rate of 0 trains nothing,
and mmengine says nothing: the loss is logged, checkpoints are written, the exported student is
the one the run started from. This hook compares the student's parameters before and after the
first optimizer step of each start (a fresh run or a resume) and stops the run with the cause.
It costs one copy of the student's parameters, once; after that check it does nothing.
"""
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from rkd.registry import HOOKS


class FrozenStudentError(RuntimeError):
    """The first optimizer step of a run left every trainable parameter of the student as it
    was."""


@HOOKS.register_module()
class StudentUpdateCheckHook(Hook):
    """Stops a distillation run whose first optimizer step changed no parameter of the student,
    naming the cause: frozen after build, not in the optimizer, a learning rate of 0, or no
    gradient reaching it.

    Only the parameters that were trainable when the model was built are watched
    (``SingleTeacherDistill.student_trainable``): a student frozen by its config is a choice,
    warned about at build. An iteration that accumulates gradients without stepping
    (``accumulative_counts``) and one whose step AMP skipped postpone the check to the next step.
    Models without a student (a teacher trained alone) are not checked.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._before: Optional[Dict[str, torch.Tensor]] = None
        self._loss_scale: Optional[float] = None
        self._checked = False

    def before_train(self, runner) -> None:
        self._before, self._checked = None, False

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._checked or self._before is not None:
            return
        watched = _watched(runner)
        if not watched:
            self._checked = True
            return
        self._before = {name: param.detach().clone() for name, param in watched.items()}
        self._loss_scale = _loss_scale(runner.optim_wrapper)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._checked or self._before is None:
            return
        optim_wrapper = runner.optim_wrapper
        should_update = getattr(optim_wrapper, 'should_update', None)
        if should_update is not None and not should_update():
            return  # gradients accumulate: no step yet
        scale, self._loss_scale = self._loss_scale, _loss_scale(optim_wrapper)
        if scale is not None and self._loss_scale is not None and self._loss_scale < scale:
            return  # AMP found an overflow and skipped the step
        watched = _watched(runner)
        before, self._before, self._checked = self._before, None, True
        if all(torch.equal(value, watched[name]) for name, value in before.items()):
            raise FrozenStudentError(_diagnosis(watched, getattr(optim_wrapper, 'optimizer', None)))


def _watched(runner) -> Dict[str, nn.Parameter]:
    """The student's parameters that were trainable when the model was built."""
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    student, names = getattr(model, 'student', None), getattr(model, 'student_trainable', ())
    if student is None or not names:
        return {}
    params = dict(student.named_parameters())
    return {name: params[name] for name in names if name in params}


def _loss_scale(optim_wrapper) -> Optional[float]:
    scaler = getattr(optim_wrapper, 'loss_scaler', None)
    return float(scaler.get_scale()) if hasattr(scaler, 'get_scale') else None


def _groups_of(optimizer, params) -> List[dict]:
    ids = {id(param) for param in params}
    return [group for group in getattr(optimizer, 'param_groups', [])
            if any(id(param) in ids for param in group['params'])]


def _diagnosis(watched: Dict[str, nn.Parameter], optimizer) -> str:
    names = list(watched)
    head = (f'The first optimizer step changed none of the student\'s {len(names)} trainable '
            f'parameters (e.g. {names[0]}): the run would train nothing of the student. ')
    trainable = {name: p for name, p in watched.items() if p.requires_grad}
    if not trainable:
        return head + (
            'They were trainable when the model was built and have requires_grad=False now: '
            'something froze them after the build (a hook or code that sets requires_grad=False, '
            'or a backbone\'s frozen_stages applied again in train()). To train only the '
            'distiller on purpose, freeze the student in its config instead.')
    groups = _groups_of(optimizer, trainable.values())
    if not groups:
        return head + (
            'None of them is in the optimizer: the optim_wrapper\'s constructor or paramwise_cfg '
            'left the student out. Give the optimizer the whole model (mmengine\'s default).')
    if all(group['lr'] == 0 for group in groups):
        return head + (
            'Their learning rate is 0: set optim_wrapper.optimizer.lr, the student\'s '
            'paramwise_cfg lr_mult, or the param_scheduler\'s factor above 0.')
    return head + (
        'They are trainable and in the optimizer with a learning rate above 0, so no gradient '
        'reached them: the losses do not depend on the student (a detach() or torch.no_grad() '
        'around it?), or the optimizer skipped the step.')
