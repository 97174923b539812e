"""One ABF (attention based fusion) level of ReviewKD, in a literal and a fast form.

Both forms read the same parameters, so a state_dict trained with one loads into the other; the
literal one is the oracle of the tests and the baseline of the benchmarks.
"""
from collections import OrderedDict
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .fusion import Factors, attention, fuse, nchw, nhwc
from .nearest import nearest_resize, up_factor
from .recomputed_abf import RecomputedABF

# Images per chunk of RecomputedABF: a chunk of the fused map stays near this size. Chosen on
# CPU; GPUs may prefer larger chunks (not measured).
RECOMPUTE_CHUNK_BYTES = 4 * 2**20


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    conv = nn.Conv2d(
        in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
    nn.init.kaiming_uniform_(conv.weight, a=1)
    return nn.Sequential(OrderedDict(conv=conv, bn=nn.BatchNorm2d(out_channels)))


def _exact_factors(residual: Tensor, size: Sequence[int]) -> Tuple[Tensor, Factors]:
    """``residual`` (channels_last) and the integer factors whose broadcast up-samples it to
    ``size`` as nearest resizing does; resized here when there are none."""
    residual = residual.contiguous(memory_format=torch.channels_last)
    (h, w), (rh, rw) = size, residual.shape[-2:]
    factors = (up_factor(rh, h), up_factor(rw, w))
    if all(factors):
        return residual, factors
    return nearest_resize(residual, (h, w), torch.channels_last), (1, 1)


class ABF(nn.Module):
    """Maps a student feature to a teacher's channels, fused with the deeper level's residual.

    Args:
        in_channels: Channels of the student feature.
        mid_channels: Channels of the fused map (the residual passed along the chain).
        out_channels: Channels of the teacher feature.
        fuse: Whether a deeper residual arrives (every level but the deepest); adds ``att``.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, fuse: bool):
        super().__init__()
        self.conv1 = _conv_bn(in_channels, mid_channels, 1)
        self.att = nn.Conv2d(2 * mid_channels, 2, 1) if fuse else None
        self.conv2 = _conv_bn(mid_channels, out_channels, 3)

    def forward_reference(self, feat: Tensor, residual: Optional[Tensor],
                          out_size: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """DESIGN.md word for word; returns (output, residual for the next shallower level)."""
        x = self.conv1(feat)
        if self.att is not None:
            residual = F.interpolate(residual, size=x.shape[-2:], mode='nearest')
            a = torch.sigmoid(self.att(torch.cat([x, residual], dim=1)))
            x = x * a[:, 0:1] + residual * a[:, 1:2]
        if tuple(x.shape[-2:]) != tuple(out_size):
            x = F.interpolate(x, size=tuple(out_size), mode='nearest')
        return self.conv2(x), x

    def forward_fast(self, feat: Tensor, residual: Optional[Tensor], out_size: Sequence[int],
                     keep_residual: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
        """The same function, channels_last (CPU and GPU convs run faster on it), without
        materialising the concat or the up-sampled residual. In training, a fusing level runs as
        :class:`RecomputedABF`, which keeps far less for backward; without ``keep_residual``
        (the shallowest level) its fused map is never whole and None is returned for it."""
        feat = feat.contiguous(memory_format=torch.channels_last)
        if self._recomputable(feat, out_size):
            return self._forward_recomputed(feat, residual, keep_residual)
        x = self.conv1(feat)
        if self.att is not None:
            x = self._fuse(x, residual)
        x = nearest_resize(x, out_size, torch.channels_last)
        return self._conv2(x), x

    def _fuse(self, x: Tensor, residual: Tensor) -> Tensor:
        """``x * a0 + up(r) * a1`` on channels_last maps (see :mod:`.fusion`)."""
        residual, factors = _exact_factors(residual, x.shape[-2:])
        x = nhwc(x.contiguous(memory_format=torch.channels_last))
        residual = nhwc(residual)
        att = attention(x, residual, self.att.weight.flatten(1), self.att.bias, factors)
        return nchw(fuse(x, residual, att, factors))

    def _recomputable(self, feat: Tensor, out_size: Sequence[int]) -> bool:
        """Whether :class:`RecomputedABF` computes this call: a fusing level in training, with
        no resize before conv2 and a map over 1 pixel, whose BN is a plain one (a SyncBatchNorm
        converted in for several GPUs must reduce its statistics across them)."""
        size = tuple(feat.shape[-2:])
        return (self.att is not None and type(self.conv1.bn) is nn.BatchNorm2d
                and self.conv1.bn.training and torch.is_grad_enabled()
                and size == tuple(out_size) and min(size) > 1)

    def _forward_recomputed(self, feat: Tensor, residual: Tensor,
                            keep_residual: bool) -> Tuple[Tensor, Optional[Tensor]]:
        residual, factors = _exact_factors(residual, feat.shape[-2:])
        bn = self.conv1.bn
        momentum = 0.0 if bn.momentum is None else bn.momentum
        if bn.track_running_stats:  # as nn.BatchNorm2d counts its batches
            bn.num_batches_tracked.add_(1)
            if bn.momentum is None:
                momentum = 1.0 / float(bn.num_batches_tracked)
        image_bytes = feat[0, :1].numel() * self.conv1.conv.out_channels * feat.element_size()
        out, fused = RecomputedABF.apply(
            feat, residual, self.conv1.conv.weight, bn.weight, bn.bias, self.att.weight,
            self.att.bias, self.conv2.conv.weight, bn.running_mean, bn.running_var, momentum,
            bn.eps, factors, max(1, RECOMPUTE_CHUNK_BYTES // image_bytes), keep_residual)
        return self.conv2.bn(out), fused

    def _conv2(self, x: Tensor) -> Tensor:
        """conv2; on a 1-pixel high (wide) map only the kernel's middle row (column) sees data."""
        conv, bn = self.conv2.conv, self.conv2.bn
        h, w = x.shape[-2:]
        if h > 1 and w > 1:
            return bn(conv(x))
        rows = slice(1, 2) if h == 1 else slice(None)
        cols = slice(1, 2) if w == 1 else slice(None)
        padding = (0 if h == 1 else 1, 0 if w == 1 else 1)
        return bn(F.conv2d(x, conv.weight[:, :, rows, cols], padding=padding))
