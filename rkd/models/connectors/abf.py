"""ReviewKD's connector (Chen et al., "Distilling Knowledge via Knowledge Review", CVPR 2021):
one ABF (attention based fusion) level per student feature, chained from deep to shallow.

:class:`ABF` holds a level's parameters and the paper's forward, literally;
:meth:`ABF.fast_forward` computes the same function on the same parameters, faster and with
less memory (``rkd.models._fast``); :class:`ABFConnector` picks one of the forms when it is
built.
"""
from collections import OrderedDict
from functools import lru_cache
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from rkd.registry import MODELS

from .._fast import ABFParts, abf_forward, choose_form
from .base_connector import BaseConnector


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

    def fast_forward(self, feat: Tensor, residual: Optional[Tensor], out_size: Sequence[int],
                     keep_residual: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
        """:meth:`forward`'s function on this level's modules, computed faster; without
        ``keep_residual`` (nothing shallower reads it) the residual may be None.

        It runs some of the modules' weights functionally (a fusing level in training: conv1,
        its BN, the attention and conv2 as one autograd Function), so forward hooks on this
        level's modules do not all fire.
        """
        parts = ABFParts(self.conv1.conv, self.conv1.bn, self.att, self.conv2.conv,
                         self.conv2.bn)
        return abf_forward(parts, feat, residual, out_size, keep_residual)


def review(abfs: nn.ModuleList, feats: List[Tensor], sizes: List[tuple]) -> List[Tensor]:
    """The review, literally: deep -> shallow, each level fusing the residual of the deeper
    one."""
    outs: List[Optional[Tensor]] = [None] * len(abfs)
    residual = None
    for i in reversed(range(len(abfs))):
        outs[i], residual = abfs[i](feats[i], residual, sizes[i])
    return outs


def review_fast(abfs: nn.ModuleList, feats: List[Tensor], sizes: List[tuple]) -> List[Tensor]:
    """:func:`review` through :meth:`ABF.fast_forward` (the shallowest residual is not read)."""
    outs: List[Optional[Tensor]] = [None] * len(abfs)
    residual = None
    for i in reversed(range(len(abfs))):
        outs[i], residual = abfs[i].fast_forward(feats[i], residual, sizes[i], i > 0)
    return outs


def review_compiled(abfs: nn.ModuleList, feats: List[Tensor],
                    sizes: List[tuple]) -> List[Tensor]:
    """:func:`review` through ``torch.compile``, compiled at its first call."""
    return _compiled_review()(abfs, feats, sizes)


@lru_cache(maxsize=None)
def _compiled_review() -> Callable:
    return torch.compile(review)


REVIEWS = dict(fast=review_fast, reference=review, compiled=review_compiled)
HOOK_NOTES = dict(
    fast='forward hooks on the ABF modules do not all fire in it (impl=\'reference\' for '
    'tools that hook them)',
    reference='forward hooks fire on every ABF module')


@MODELS.register_module()
class ABFConnector(BaseConnector):
    """ReviewKD's review connector: one :class:`ABF` per level, fused from deep to shallow, so
    that every shallow student level sees what the deeper ones learnt.

    Args:
        student_channels: Channels of the student features, shallow -> deep.
        teacher_channels: Channels of the teacher features, shallow -> deep.
        mid_channels: Channels of the fused maps. Defaults to
            ``min(512, student_channels[-1])``, as in the paper.
        impl: ``'auto'`` (default: the form measured fastest on this kind of device, see
            ``rkd/models/_fast/measured_forms.py``), ``'fast'`` (:meth:`ABF.fast_forward`),
            ``'reference'`` (the paper's forward literally: pick it to hook the ABF modules) or
            ``'compiled'`` (the reference through ``torch.compile``, compiled at the first
            call: minutes on a CPU); all read the same parameters. A named form always runs.
            Chosen when it is set, and logged with why.
        init_cfg: mmengine init config; ABF convs are already kaiming_uniform (a=1) initialised.
    """

    def __init__(self,
                 student_channels: Sequence[int],
                 teacher_channels: Sequence[int],
                 mid_channels: Optional[int] = None,
                 impl: str = 'auto',
                 init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(student_channels, teacher_channels, init_cfg=init_cfg)
        self.mid_channels = (
            min(512, student_channels[-1]) if mid_channels is None else mid_channels)
        last = len(student_channels) - 1
        self.abfs = nn.ModuleList(
            ABF(c_in, self.mid_channels, c_out, fuse=i < last)
            for i, (c_in, c_out) in enumerate(zip(student_channels, teacher_channels)))
        self.impl = impl

    @property
    def impl(self) -> str:
        """The form of the forward (``'auto'`` resolved); setting it chooses the form and
        logs why."""
        return self._impl

    @impl.setter
    def impl(self, impl: str) -> None:
        self._impl, self._review = choose_form('ABFConnector', impl, REVIEWS, HOOK_NOTES)

    def forward(self, student_feats: Sequence[Tensor],
                teacher_sizes: Sequence[Sequence[int]]) -> List[Tensor]:
        """Align ``student_feats`` (shallow -> deep) to the teacher: one (N, C_t, H_t, W_t) each."""
        self.check_inputs(student_feats, teacher_sizes)
        return self._review(self.abfs, list(student_feats),
                            [tuple(int(d) for d in s) for s in teacher_sizes])
