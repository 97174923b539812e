"""HCL (hierarchical context loss) of ReviewKD: MSE on the map plus on a pyramid of its pools."""
import math
from numbers import Integral, Real
from typing import Any, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from rkd.registry import MODELS

IMPLS = ('fast', 'reference')


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
    """DESIGN.md word for word, for one level."""
    kept, total = pyramid(y.shape[-2], levels)
    loss = F.mse_loss(y, t)
    for k, w in kept:
        loss = loss + w * F.mse_loss(F.adaptive_avg_pool2d(y, k), F.adaptive_avg_pool2d(t, k))
    return loss / total


def _pool(x: Tensor, src: Tensor, k: int) -> Tensor:
    """``adaptive_avg_pool2d(x, k)``, from the coarser ``src`` when that is exact.

    ``src`` is ``x`` or an earlier pool of it on equal bins; averaging equal bins in groups of
    equal size is the same average, so a k-pool of ``src`` is exact when k divides its size.
    """
    h, w = src.shape[-2:]
    if h % k == 0 and w % k == 0:
        return F.avg_pool2d(src, (h // k, w // k))
    return F.adaptive_avg_pool2d(x, k)


def _pool_source(x: Tensor, pools: List[Tensor], k: int) -> Tensor:
    """The smallest map among ``x`` and its equal-bin pools that a k-pool can be read from."""
    h, w = x.shape[-2:]
    for p in sorted(pools, key=lambda p: p.shape[-2] * p.shape[-1]):
        ph, pw = p.shape[-2:]
        if h % ph == 0 and w % pw == 0 and ph % k == 0 and pw % k == 0:
            return p
    return x


def _pyramid_pools(x: Tensor, sizes: Sequence[int]) -> List[Tensor]:
    """``[adaptive_avg_pool2d(x, k) for k in sizes]``, each read from the smallest exact source,
    so the full map is read once in the usual (4, 2, 1) pyramid."""
    pools: List[Tensor] = []
    for k in sizes:
        pools.append(_pool(x, _pool_source(x, pools, k), k))
    return pools


def hcl_fast(y: Tensor, t: Tensor, levels: Sequence[int]) -> Tensor:
    """:func:`hcl_reference`, reading the full maps twice instead of once per pool size.

    The pyramid of each map is built from its own finest pool; since pooling is linear the
    pooled MSE is taken on the small pooled difference.
    """
    kept, total = pyramid(y.shape[-2], levels)
    loss = F.mse_loss(y, t)
    if kept:
        sizes = [k for k, _ in kept]
        with torch.no_grad():
            t_pools = _pyramid_pools(t, sizes)
        for (_, w), py, pt in zip(kept, _pyramid_pools(y, sizes), t_pools):
            loss = loss + w * (py - pt).square().mean()
    return loss / total


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
        impl: ``'fast'`` (default) or ``'reference'``, the literal form of DESIGN.md.
    """

    def __init__(self, levels: Sequence[int] = (4, 2, 1), loss_weight: float = 1.0,
                 impl: str = 'fast') -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
        self.levels = check_levels(levels)
        self.loss_weight = check_loss_weight(loss_weight)
        self.impl = impl

    def forward(self, preds: Sequence[Tensor], targets: Sequence[Tensor]) -> Tensor:
        """``loss_weight * sum_i L_i(preds[i], targets[i])``; targets are constants."""
        if not preds or len(preds) != len(targets):
            raise ValueError(f'HCLoss got {len(preds)} student features '
                             f'{[tuple(p.shape) for p in preds]} but {len(targets)} teacher '
                             f'features {[tuple(t.shape) for t in targets]}')
        level_loss = hcl_fast if self.impl == 'fast' else hcl_reference
        # MSE of small differences loses its precision in half floats: force float32.
        with torch.autocast(device_type=preds[0].device.type, enabled=False):
            total = preds[0].new_zeros((), dtype=torch.float32)
            for i, (y, t) in enumerate(zip(preds, targets)):
                if y.shape != t.shape:
                    raise ValueError(f'HCLoss level {i}: student feature of shape '
                                     f'{tuple(y.shape)} vs teacher feature of shape '
                                     f'{tuple(t.shape)}')
                total = total + level_loss(y.float(), t.detach().float(), self.levels)
        return self.loss_weight * total
