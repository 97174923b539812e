"""Stop a run at its first non-finite loss or gradient, before anything non-finite is saved."""
from typing import List

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmengine.runner import EpochBasedTrainLoop
from torch import Tensor

from rkd.registry import HOOKS
from rkd.utils.non_finite import NonFiniteError, few, non_finite_names

# What a stopped run leaves behind, said once in every message.
LEFT_AS_IS = ('Nothing non-finite was saved: the checkpoints already in the work dir are the last '
              'good ones.')
CAUSES = ('Usual causes: a teacher checkpoint with non-finite weights, inputs that become '
          'non-finite (a data preprocessor std of 0), a learning rate or loss weight too large.')


def _tensors(value) -> List[Tensor]:
    """The tensors of a loss entry: mmengine accepts a tensor or a list of them."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return [v for v in values if isinstance(v, Tensor)]


def _extent(feature: Tensor) -> str:
    """Shape and largest magnitude of a feature, for a message."""
    return f'{tuple(feature.shape)}, max |x| {feature.detach().abs().max().item():.3g}'


def _levels(features) -> List[int]:
    if not isinstance(features, (list, tuple)):
        return []
    return [i for i, f in enumerate(features)
            if isinstance(f, Tensor) and not torch.isfinite(f).all()]


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Stops training with :class:`NonFiniteError` at the first NaN or infinity, and names it.

    - Before training: every weight of the model (the teacher's from its checkpoint, the
      student's when loaded or resumed) must be finite.
    - Each step, before backward: every loss the model returns (keys with ``loss``); a
      non-finite one is named as the student's task loss or the ReviewKD loss, with the
      ReviewKD levels whose student or teacher feature is non-finite, and whether the inputs
      already were.
    - Each step, before the optimizer step: every gradient (names the parameters). Under AMP the
      loss scaler skips steps with infinite gradients on purpose; those never reach the check.
    - Every checkpoint, before it is written: its weights.

    Every check raises before the weights change or a file is written, whatever the order of
    the other hooks, so the checkpoints already in the work dir stay the last good ones, and
    ``StudentExportHook`` (which runs after training) is never reached. The losses and the
    gradients are checked with one device synchronisation each per step.
    """

    priority = 'VERY_HIGH'  # before any other hook's before_save_checkpoint adds to the file

    def __init__(self) -> None:
        self._handles: list = []
        self._runner = None
        self._distiller_keys: set = set()
        self._features: tuple = ()

    # -- registration -------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        self._runner = runner
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._check_weights(model, runner)
        self._param_names = {id(p): name for name, p in model.named_parameters()}
        self._handles.append(model.register_forward_hook(self._check_losses, with_kwargs=True))
        distiller = getattr(model, 'distiller', None)
        if isinstance(distiller, torch.nn.Module):
            self._handles.append(
                distiller.register_forward_hook(self._record_distiller, with_kwargs=True))
        wrappers = (runner.optim_wrapper.values()
                    if isinstance(runner.optim_wrapper, OptimWrapperDict) else
                    [runner.optim_wrapper])
        for wrapper in wrappers:
            self._handles.append(
                wrapper.optimizer.register_step_pre_hook(self._check_gradients))

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    # -- the checks ---------------------------------------------------------------------------
    def _where(self) -> str:
        runner = self._runner
        where = f'iteration {runner.iter + 1}'
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1})'
        return where

    def _check_weights(self, model: torch.nn.Module, runner) -> None:
        teacher = getattr(model, 'teacher', None)
        if isinstance(teacher, torch.nn.Module):
            state = teacher.state_dict()
            bad = non_finite_names(state.items())
            if bad:
                checkpoint = runner.cfg.get('model', {}).get('teacher', {}).get('checkpoint')
                source = f'its checkpoint {checkpoint}' if checkpoint else 'its checkpoint'
                raise NonFiniteError(
                    f'The teacher has non-finite weights ({few(bad, len(state), "tensors")}) '
                    f'before training: check {source}. Training did not start. {LEFT_AS_IS}')
        state = model.state_dict()
        bad = [name for name in non_finite_names(state.items())
               if not name.startswith('teacher.')]
        if bad:
            raise NonFiniteError(
                f'The model has non-finite weights ({few(bad, len(state), "tensors")}) before '
                'training: check the checkpoint it was loaded or resumed from '
                f'({runner.cfg.get("load_from")}). Training did not start. {LEFT_AS_IS}')

    def _record_distiller(self, module, args, kwargs, output) -> None:
        """Which losses are the distiller's, and its input features, for the message."""
        if isinstance(output, dict):
            self._distiller_keys = set(output)
        self._features = tuple(args[:2])

    def _check_losses(self, module, args, kwargs, output) -> None:
        if kwargs.get('mode') != 'loss' or not isinstance(output, dict):
            return
        features, self._features = self._features, ()
        losses = [(key, t) for key, value in output.items() if 'loss' in key
                  for t in _tensors(value)]
        bad = list(dict.fromkeys(non_finite_names(losses)))
        if not bad:
            return
        described = []
        for key in bad:
            value = [t for k, t in losses if k == key][0]
            if key in self._distiller_keys:
                what = 'the ReviewKD loss' + self._level_hint(features, output)
            elif self._distiller_keys:
                what = "the student's task loss"
            else:
                what = 'a loss of the model'
            described.append(f'{key} = {value.detach().float().mean().item()} ({what})')
        inputs = kwargs.get('inputs', args[0] if args else None)
        if isinstance(inputs, Tensor) and not torch.isfinite(inputs).all():
            described.append('the inputs are already non-finite after the data preprocessor')
        raise NonFiniteError(
            f'Non-finite loss at {self._where()}: {"; ".join(described)}. Training stopped '
            f'before the optimizer step. {LEFT_AS_IS} {CAUSES}')

    @staticmethod
    def _level_hint(features: tuple, output: dict) -> str:
        if len(features) < 2:
            return ''
        student, teacher = _levels(features[0]), _levels(features[1])
        count = len(features[1]) if isinstance(features[1], (list, tuple)) else '?'
        hints = [f'{network} feature non-finite at level(s) {levels} of {count}'
                 for network, levels in (('teacher', teacher), ('student', student)) if levels]
        if hints:
            return '; ' + ', '.join(hints)
        levels = [int(key[len('reviewkd_level'):]) for key, value in output.items()
                  if key.startswith('reviewkd_level') and isinstance(value, Tensor)
                  and not torch.isfinite(value).all()]
        described = [f'level {i} (student {_extent(features[0][i])}, teacher '
                     f'{_extent(features[1][i])})' for i in levels if i < min(map(len, features))]
        if not described:
            return '; student and teacher features finite: the connector or the loss'
        return ('; student and teacher features finite, but the loss overflows at '
                + ', '.join(described) + ': squares of values this large overflow float32 (a '
                'teacher never trained nor initialised, e.g. with model.teacher.checkpoint=None?)')

    def _check_gradients(self, optimizer, args, kwargs) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group['params']
                 if p.grad is not None]
        if not grads or torch.isfinite(torch.nn.utils.get_total_norm(grads, 'inf')):
            return
        named = [(self._param_names.get(id(p), '?'), p.grad)
                 for group in optimizer.param_groups for p in group['params']
                 if p.grad is not None]
        raise NonFiniteError(
            f'Non-finite gradient at {self._where()}, the losses being finite, in '
            f'{few(non_finite_names(named), len(named), "parameters")}. Training stopped before '
            f'the optimizer step. {LEFT_AS_IS} {CAUSES}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', {})
        bad = non_finite_names(state.items())
        if bad:
            meta = checkpoint.get('meta', {})
            raise NonFiniteError(
                f'Refusing to save the checkpoint of epoch {meta.get("epoch")}, iteration '
                f'{meta.get("iter")}: non-finite weights in {few(bad, len(state), "tensors")}. '
                f'Training stopped. {LEFT_AS_IS}')
