"""The fast form of one HCL level.

Where every pool's bins are equal blocks of pixels, nested in the finest pool's (the usual
(4, 2, 1) pyramid on a map whose sides 4 divides), :class:`BlockHCL` computes the level from the
difference ``d = y - t`` chunk by chunk: pooling is linear, so each pool of ``y`` minus that of
``t`` is the pool of ``d``, and one read of the two maps gives the MSE and every pool. Its
backward recomputes ``d`` chunk by chunk and writes the gradient in the same pass, with all the
pools' shares added at the finest pool's size first. Elsewhere the full maps are read twice (the
MSE and the finest pool), each coarser pool read from a finer one where that is exact.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .layout import block_sum, blocks, cells, nhwc

# Bytes of ``d`` per chunk: the chunk stays in cache from its subtraction to its last read.
CHUNK_BYTES = 4 * 2**20


def hcl_level(y: Tensor, t: Tensor, kept: Sequence[Tuple[int, float]], total: float) -> Tensor:
    """HCL of one level for the pool sizes and weights ``kept`` and their normaliser ``total``
    (as :func:`rkd.models.losses.hcl_loss.pyramid` gives them)."""
    finest = block_pyramid(y.shape[-2:], [k for k, _ in kept])
    if finest:
        chunk = max(1, CHUNK_BYTES // (y[0].numel() * y.element_size()))
        return BlockHCL.apply(y, t.detach(), tuple(kept), total, finest, chunk)
    loss = F.mse_loss(y, t)
    if kept:
        sizes = [k for k, _ in kept]
        with torch.no_grad():
            t_pools = _pyramid_pools(t, sizes)
        for (_, w), py, pt in zip(kept, _pyramid_pools(y, sizes), t_pools):
            loss = loss + w * (py - pt).square().mean()
    return loss / total


def block_pyramid(size: Sequence[int], sizes: Sequence[int]) -> Optional[int]:
    """The finest pool size when every pool of ``sizes`` averages equal blocks of a map of
    ``size`` nested in the finest pool's blocks, else None."""
    if not sizes:
        return None
    finest, (h, w) = max(sizes), size
    exact = h % finest == 0 and w % finest == 0 and all(finest % k == 0 for k in sizes)
    return finest if exact else None


def _block_sums(d: Tensor, k: int) -> Tensor:
    """Sums of the (N, H, W, C) ``d`` over a k x k grid of equal blocks, as (N, k, k, C)."""
    h, w = d.shape[1:3]
    return block_sum(blocks(d, (h // k, w // k)))


class BlockHCL(torch.autograd.Function):
    """``(mse(y, t) + sum_k w_k mse(pool_k(y), pool_k(t))) / total`` for pools of equal nested
    blocks (:func:`block_pyramid`), keeping only the finest pool of ``y - t`` for backward
    besides ``y`` and ``t``; ``t`` is a constant."""

    @staticmethod
    def forward(ctx, y: Tensor, t: Tensor, kept: Tuple[Tuple[int, float], ...], total: float,
                finest: int, chunk: int) -> Tensor:
        d_buf = torch.empty_like(nhwc(y[:chunk]), memory_format=torch.contiguous_format)
        square_sum = y.new_zeros(())
        pooled = y.new_empty((len(y), finest, finest, y.shape[1]))  # block sums of d
        for start in range(0, len(y), chunk):
            rows = slice(start, start + chunk)
            d = torch.sub(nhwc(y[rows]), nhwc(t[rows]), out=d_buf[:len(y[rows])])
            square_sum += torch.dot(d.view(-1), d.view(-1))
            pooled[rows] = _block_sums(d, finest)
        ctx.save_for_backward(y, t, pooled)
        ctx.kept, ctx.total, ctx.chunk = kept, total, chunk
        loss = square_sum / y.numel()
        for k, w in kept:  # each pool's means from the finest pool's sums
            area = (y.shape[2] // k) * (y.shape[3] // k)
            means = _block_sums(pooled, k) / area
            loss = loss + w * means.square().mean()
        return loss / total

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple:
        y, t, pooled = ctx.saved_tensors
        finest, (h, w) = pooled.shape[1], y.shape[2:]
        scale = grad / ctx.total
        # every pool's share of the gradient, per pixel of the finest pool's blocks
        coarse = torch.zeros_like(pooled)
        for k, weight in ctx.kept:
            area = (h // k) * (w // k)
            means = _block_sums(pooled, k) / area
            share = means * (2 * weight / (means.numel() * area))
            coarse_blocks = blocks(coarse, (finest // k, finest // k))
            coarse_blocks += cells(share)
        coarse *= scale
        grad_y = torch.empty_like(y)
        factors, alpha = (h // finest, w // finest), scale * 2 / y.numel()
        for start in range(0, len(y), ctx.chunk):
            rows = slice(start, start + ctx.chunk)
            out = blocks(nhwc(grad_y[rows]), factors)
            torch.sub(blocks(nhwc(y[rows]), factors), blocks(nhwc(t[rows]), factors), out=out)
            torch.add(cells(coarse[rows]), out, alpha=alpha, out=out)
        return grad_y, None, None, None, None, None


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
