"""One ABF (attention based fusion) level of ReviewKD (Chen et al., "Distilling Knowledge via
Knowledge Review", CVPR 2021): its parameters and the paper's forward, literally.

:func:`rkd.models._fast.abf_forward` computes the same function on the same parameters, faster;
this form is the oracle of its tests and the baseline of the benchmarks.
"""
from collections import OrderedDict
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


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

    def forward(self, feat: Tensor, residual: Optional[Tensor],
                out_size: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """(output at ``out_size``, residual for the next shallower level).

        ``x = conv1(feat)``; with a deeper residual ``r``, resized to ``x``:
        ``a = sigmoid(att([x, r]))`` and ``x = x * a0 + r * a1``. ``x`` is resized to the
        teacher's size, becomes the next residual, and ``conv2(x)`` is the output.
        """
        x = self.conv1(feat)
        if self.att is not None:
            residual = F.interpolate(residual, size=x.shape[-2:], mode='nearest')
            a = torch.sigmoid(self.att(torch.cat([x, residual], dim=1)))
            x = x * a[:, 0:1] + residual * a[:, 1:2]
        if tuple(x.shape[-2:]) != tuple(out_size):
            x = F.interpolate(x, size=tuple(out_size), mode='nearest')
        return self.conv2(x), x
