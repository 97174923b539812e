"""The fast form of one ABF level: the literal :meth:`rkd.models.connectors.ABF.forward` on the
same parameters, channels_last (CPU and GPU convs run faster on it), without materialising the
concat or the up-sampled residual, and in training with :class:`.RecomputedABF`, which keeps far
less for backward."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .fusion import attention, fuse
from .layout import Factors, nchw, nhwc
from .nearest import nearest_resize, up_factor
from .recomputed import RecomputedABF

# Images per chunk of RecomputedABF: a chunk of the fused map stays near this size. Chosen on
# CPU; GPUs may prefer larger chunks (not measured).
RECOMPUTE_CHUNK_BYTES = 4 * 2**20


def abf_forward(abf: nn.Module, feat: Tensor, residual: Optional[Tensor],
                out_size: Sequence[int], keep_residual: bool = True
                ) -> Tuple[Tensor, Optional[Tensor]]:
    """``abf(feat, residual, out_size)``: (output, residual for the next shallower level).

    Without ``keep_residual`` (the shallowest level) a recomputed level's fused map is never
    whole and None is returned for it.
    """
    feat = feat.contiguous(memory_format=torch.channels_last)
    if recomputable(abf, feat, out_size):
        return _forward_recomputed(abf, feat, residual, keep_residual)
    x = abf.conv1(feat)
    if abf.att is not None:
        x = _fuse(abf.att, x, residual)
    x = nearest_resize(x, out_size, torch.channels_last)
    return _conv2(abf.conv2, x), x


def recomputable(abf: nn.Module, feat: Tensor, out_size: Sequence[int]) -> bool:
    """Whether :class:`RecomputedABF` computes this call: a fusing level in training, with no
    resize before conv2 and a map over 1 pixel, whose BN is a plain one (a SyncBatchNorm
    converted in for several GPUs must reduce its statistics across them)."""
    size = tuple(feat.shape[-2:])
    return (abf.att is not None and type(abf.conv1.bn) is nn.BatchNorm2d
            and abf.conv1.bn.training and torch.is_grad_enabled()
            and size == tuple(out_size) and min(size) > 1)


def _exact_factors(residual: Tensor, size: Sequence[int]) -> Tuple[Tensor, Factors]:
    """``residual`` (channels_last) and the integer factors whose broadcast up-samples it to
    ``size`` as nearest resizing does; resized here when there are none."""
    residual = residual.contiguous(memory_format=torch.channels_last)
    (h, w), (rh, rw) = size, residual.shape[-2:]
    factors = (up_factor(rh, h), up_factor(rw, w))
    if all(factors):
        return residual, factors
    return nearest_resize(residual, (h, w), torch.channels_last), (1, 1)


def _fuse(att: nn.Conv2d, x: Tensor, residual: Tensor) -> Tensor:
    """``x * a0 + up(r) * a1`` on channels_last maps (see :mod:`.fusion`)."""
    residual, factors = _exact_factors(residual, x.shape[-2:])
    x = nhwc(x.contiguous(memory_format=torch.channels_last))
    residual = nhwc(residual)
    a = attention(x, residual, att.weight.flatten(1), att.bias, factors)
    return nchw(fuse(x, residual, a, factors))


def _forward_recomputed(abf: nn.Module, feat: Tensor, residual: Tensor,
                        keep_residual: bool) -> Tuple[Tensor, Optional[Tensor]]:
    residual, factors = _exact_factors(residual, feat.shape[-2:])
    conv, bn = abf.conv1.conv, abf.conv1.bn
    momentum = 0.0 if bn.momentum is None else bn.momentum
    if bn.track_running_stats:  # as nn.BatchNorm2d counts its batches
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            momentum = 1.0 / float(bn.num_batches_tracked)
    image_bytes = feat[0, :1].numel() * conv.out_channels * feat.element_size()
    out, fused = RecomputedABF.apply(
        feat, residual, conv.weight, bn.weight, bn.bias, abf.att.weight, abf.att.bias,
        abf.conv2.conv.weight, bn.running_mean, bn.running_var, momentum, bn.eps, factors,
        max(1, RECOMPUTE_CHUNK_BYTES // image_bytes), keep_residual)
    return abf.conv2.bn(out), fused


def _conv2(conv_bn: nn.Sequential, x: Tensor) -> Tensor:
    """conv2; on a 1-pixel high (wide) map only the kernel's middle row (column) sees data."""
    conv, bn = conv_bn.conv, conv_bn.bn
    h, w = x.shape[-2:]
    if h > 1 and w > 1:
        return bn(conv(x))
    rows = slice(1, 2) if h == 1 else slice(None)
    cols = slice(1, 2) if w == 1 else slice(None)
    padding = (0 if h == 1 else 1, 0 if w == 1 else 1)
    return bn(F.conv2d(x, conv.weight[:, :, rows, cols], padding=padding))
