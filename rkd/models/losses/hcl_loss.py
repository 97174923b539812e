"""HCL (hierarchical context loss) of ReviewKD (Chen et al., "Distilling Knowledge via Knowledge
Review", CVPR 2021): MSE on the map plus on a pyramid of its average pools."""
import math
from functools import lru_cache, partial
from numbers import Integral, Real
from typing import Any, Callable, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from rkd.registry import MODELS

from .._fast import choose_form, hcl_level


def pyramid(height: int, levels: Sequence[int]) -> Tuple[List[Tuple[int, float]], float]:
    """The kept pool sizes with their weights, and the normaliser ``1 + sum(weights)``.

    Sizes ``k < height`` are kept in the given order and weighted 1/2, 1/4, ...; the full-map MSE
    weighs 1.
    """
    kept, weight = [], 1.0
    for k in levels:
        if k < height:
            weight /= 2
            kept.append((k, weight))
    return kept, 1.0 + sum(w for _, w in kept)


def hcl_reference(y: Tensor, t: Tensor, levels: Sequence[int]) -> Tensor:
    """The loss of one level as the paper states it: with ``kept`` the pool sizes k below the map
    height and their weights w (1/2, 1/4, ...),
    ``(MSE(y, t) + sum_k w_k MSE(pool_k(y), pool_k(t))) / (1 + sum_k w_k)``."""
    kept, total = pyramid(y.shape[-2], levels)
    loss = F.mse_loss(y, t)
    for k, w in kept:
        loss = loss + w * F.mse_loss(F.adaptive_avg_pool2d(y, k), F.adaptive_avg_pool2d(t, k))
    return loss / total


def hcl_fast(y: Tensor, t: Tensor, levels: Sequence[int]) -> Tensor:
    """:func:`hcl_reference`, reading the full maps twice instead of once per pool size."""
    return hcl_level(y, t, *pyramid(y.shape[-2], levels))


def check_levels(levels: Any) -> Tuple[int, ...]:
    """``levels`` as a tuple of positive ints, or a ValueError saying what is wrong with it."""
    example = 'e.g. levels=(4, 2, 1), the paper\'s pyramid'
    if not isinstance(levels, (tuple, list)):
        raise ValueError(f'HCLoss levels must be a tuple or list of pool sizes ({example}), got '
                         f'{type(levels).__name__} {levels!r}')
    bad = [k for k in levels if isinstance(k, bool) or not isinstance(k, Integral) or k < 1]
    if bad:
        raise ValueError(f'HCLoss levels must be positive ints (output sizes of the average '
                         f'pools; {example}), got {tuple(levels)!r}: {bad} not allowed')
    return tuple(int(k) for k in levels)


def check_loss_weight(loss_weight: Any) -> float:
    """``loss_weight`` as a float, or a ValueError: it must be a finite number, not negative (a
    negative weight would push the student away from the teacher)."""
    if isinstance(loss_weight, bool) or not isinstance(loss_weight, Real):
        raise ValueError(f'HCLoss loss_weight must be a number, got '
                         f'{type(loss_weight).__name__} {loss_weight!r}')
    if not math.isfinite(loss_weight) or loss_weight < 0:
        raise ValueError(f'HCLoss loss_weight must be finite and >= 0, got {loss_weight!r}: a '
                         'negative weight trains the student away from the teacher; 0 turns '
                         'the distillation off')
    return float(loss_weight)


@MODELS.register_module()
class HCLoss(nn.Module):
    """ReviewKD's hierarchical context loss, summed over levels, in float32.

    Args:
        levels: Pyramid pool sizes (positive ints), weighted 1/2, 1/4, ... in this order among
            those smaller than the map height; ``()`` is the plain MSE.
        loss_weight: Factor of the sum over levels: finite, not negative.
        impl: ``'auto'`` (default: the form measured fastest on this kind of device, as the
            connector's), ``'fast'`` (:func:`hcl_fast`), ``'reference'`` (the paper's formula
            literally, :func:`hcl_reference`) or ``'compiled'`` (the reference through
            ``torch.compile``, compiled at the first call). Chosen when it is set, and logged.
    """

    def __init__(self, levels: Sequence[int] = (4, 2, 1), loss_weight: float = 1.0,
                 impl: str = 'auto') -> None:
        super().__init__()
        self.impl = impl
        self.levels = check_levels(levels)
        self.loss_weight = check_loss_weight(loss_weight)

    @property
    def impl(self) -> str:
        """The form of the loss (``'auto'`` resolved); setting it chooses the form and logs
        why."""
        return self._impl

    @impl.setter
    def impl(self, impl: str) -> None:
        self._impl, self._total = choose_form('HCLoss', impl, TOTALS)

    def forward(self, preds: Sequence[Tensor], targets: Sequence[Tensor]) -> Tensor:
        """``loss_weight * sum_i L_i(preds[i], targets[i])``; targets are constants."""
        if not preds or len(preds) != len(targets):
            raise ValueError(f'HCLoss got {len(preds)} student features '
                             f'{[tuple(p.shape) for p in preds]} but {len(targets)} teacher '
                             f'features {[tuple(t.shape) for t in targets]}')
        for i, (y, t) in enumerate(zip(preds, targets)):
            if y.shape != t.shape:
                raise ValueError(f'HCLoss level {i}: student feature of shape {tuple(y.shape)} '
                                 f'vs teacher feature of shape {tuple(t.shape)}')
        return self.loss_weight * self._total(list(preds), list(targets), self.levels)


def _sum_of_levels(level_loss: Callable, preds: List[Tensor], targets: List[Tensor],
                   levels: Tuple[int, ...]) -> Tensor:
    """``sum_i level_loss(preds[i], targets[i])`` in float32: MSE of small differences loses its
    precision in half floats."""
    with torch.autocast(device_type=preds[0].device.type, enabled=False):
        total = preds[0].new_zeros((), dtype=torch.float32)
        for y, t in zip(preds, targets):
            total = total + level_loss(y.float(), t.detach().float(), levels)
    return total


def _compiled_sum_of_levels(level_loss: Callable, *args) -> Tensor:
    """:func:`_sum_of_levels` through ``torch.compile``, compiled at its first call."""
    return _compiled_sum()(level_loss, *args)


@lru_cache(maxsize=None)
def _compiled_sum() -> Callable:
    return torch.compile(_sum_of_levels)


TOTALS = dict(fast=partial(_sum_of_levels, hcl_fast),
              reference=partial(_sum_of_levels, hcl_reference),
              compiled=partial(_compiled_sum_of_levels, hcl_reference))
