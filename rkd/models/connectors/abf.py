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

from .nearest import as_blocks, nearest_resize, up_blocks, up_factor


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    conv = nn.Conv2d(
        in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
    nn.init.kaiming_uniform_(conv.weight, a=1)
    return nn.Sequential(OrderedDict(conv=conv, bn=nn.BatchNorm2d(out_channels)))


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

    def forward_fast(self, feat: Tensor, residual: Optional[Tensor],
                     out_size: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """The same function, channels_last (CPU and GPU convs run faster on it), without
        materialising the concat or the up-sampled residual."""
        x = self.conv1(feat.contiguous(memory_format=torch.channels_last))
        if self.att is not None:
            x = self._fuse(x, residual)
        x = nearest_resize(x, out_size, torch.channels_last)
        return self._conv2(x), x

    def _fuse(self, x: Tensor, residual: Tensor) -> Tensor:
        """``x * a0 + up(r) * a1``, with ``up`` a broadcast whenever it repeats whole pixels.

        A 1x1 conv commutes with nearest resizing, so the residual's half of the attention is
        computed at the residual's (lower) resolution and only its 2-channel logits are resized.
        """
        mid = x.shape[1]
        (h, w), (rh, rw) = x.shape[-2:], residual.shape[-2:]
        factors = (up_factor(rh, h), up_factor(rw, w))
        if not all(factors):
            residual, factors = nearest_resize(residual, (h, w), torch.channels_last), (1, 1)
        weight = self.att.weight
        logit_x = as_blocks(F.conv2d(x, weight[:, :mid]), factors)
        logit_r = up_blocks(F.conv2d(residual, weight[:, mid:], self.att.bias), factors)
        a = torch.sigmoid(logit_x + logit_r)
        fused = torch.addcmul(as_blocks(x, factors) * a[:, 0:1], up_blocks(residual, factors),
                              a[:, 1:2])
        return fused.reshape(x.shape)

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
