"""The fast form of one HCL level: the full maps are read twice (the MSE and the finest pool)
instead of once per pool size. Each coarser pool is read from a finer one where that is exact, and
since pooling is linear the teacher's pyramid needs no graph."""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def hcl_level(y: Tensor, t: Tensor, kept: Sequence[Tuple[int, float]], total: float) -> Tensor:
    """HCL of one level for the pool sizes and weights ``kept`` and their normaliser ``total``
    (as :func:`rkd.models.losses.hcl_loss.pyramid` gives them)."""
    loss = F.mse_loss(y, t)
    if kept:
        sizes = [k for k, _ in kept]
        with torch.no_grad():
            t_pools = _pyramid_pools(t, sizes)
        for (_, w), py, pt in zip(kept, _pyramid_pools(y, sizes), t_pools):
            loss = loss + w * (py - pt).square().mean()
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
