"""The fast form of one ABF level: the literal :meth:`rkd.models.connectors.ABF.forward` on the
same parameters, channels_last (CPU and GPU convs run faster on it), without materialising the
concat or the up-sampled residual, and in training with :class:`.RecomputedABF`, which keeps far
less for backward."""
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .fusion import attention, fuse
from .layout import Factors, nchw, nhwc
from .nearest import nearest_resize, up_factor
from .recomputed import Inputs, Plan, recomputed_abf

# Images per chunk of RecomputedABF: a chunk of the fused map stays near this size. Chosen on
# CPU; GPUs may prefer larger chunks (not measured).
RECOMPUTE_CHUNK_BYTES = 4 * 2**20


class ABFParts(NamedTuple):
    """The modules of one ABF level, handed over by ``ABF.fast_forward``: ``bn2(conv2(x))`` with
    ``x = bn1(conv1(feat))``, fused by ``att`` (None at the deepest level) with the residual."""
    conv1: nn.Conv2d
    bn1: nn.BatchNorm2d
    att: Optional[nn.Conv2d]
    conv2: nn.Conv2d
    bn2: nn.BatchNorm2d


def abf_forward(parts: ABFParts, feat: Tensor, residual: Optional[Tensor],
                out_size: Sequence[int], keep_residual: bool = True
                ) -> Tuple[Tensor, Optional[Tensor]]:
    """(output, residual for the next shallower level) of the level made of ``parts``.

    Without ``keep_residual`` (the shallowest level) a recomputed level's fused map is never
    whole and None is returned for it.
    """
    if recomputable(parts, feat, out_size):  # copies feat once, in its own layout
        return _forward_recomputed(parts, feat, residual, keep_residual)
    feat = feat.contiguous(memory_format=torch.channels_last)
    x = parts.bn1(parts.conv1(feat))
    if parts.att is not None:
        x = _fuse(parts.att, x, residual)
    x = nearest_resize(x, out_size, torch.channels_last)
    return _conv2(parts.conv2, parts.bn2, x), x


def recomputable(parts: ABFParts, feat: Tensor, out_size: Sequence[int]) -> bool:
    """Whether :class:`RecomputedABF` computes this call: a fusing level in training, with no
    resize before conv2 and a map over 1 pixel, whose BN is a plain one (a SyncBatchNorm
    converted in for several GPUs must reduce its statistics across them)."""
    size = tuple(feat.shape[-2:])
    return (parts.att is not None and type(parts.bn1) is nn.BatchNorm2d
            and parts.bn1.training and torch.is_grad_enabled()
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
    weight = att.weight.flatten(1)
    a = attention(x @ weight[:, :x.shape[-1]].t(), residual, weight, att.bias, factors)
    return nchw(fuse(x, residual, a, factors))


def _forward_recomputed(parts: ABFParts, feat: Tensor, residual: Tensor,
                        keep_residual: bool) -> Tuple[Tensor, Optional[Tensor]]:
    residual, factors = _exact_factors(residual, feat.shape[-2:])
    conv1, bn1, att = parts.conv1, parts.bn1, parts.att
    image_bytes = feat[0, :1].numel() * conv1.out_channels * feat.element_size()
    plan = Plan(bn1.eps, factors, max(1, RECOMPUTE_CHUNK_BYTES // image_bytes), keep_residual)
    inputs = Inputs(feat, residual, conv1.weight, bn1.weight, bn1.bias, att.weight, att.bias,
                    parts.conv2.weight)
    out, fused = recomputed_abf(plan, inputs, bn1)
    return parts.bn2(out), fused


def _conv2(conv: nn.Conv2d, bn: nn.BatchNorm2d, x: Tensor) -> Tensor:
    """conv2; on a 1-pixel high (wide) map only the kernel's middle row (column) sees data."""
    h, w = x.shape[-2:]
    if h > 1 and w > 1:
        return bn(conv(x))
    rows = slice(1, 2) if h == 1 else slice(None)
    cols = slice(1, 2) if w == 1 else slice(None)
    padding = (0 if h == 1 else 1, 0 if w == 1 else 1)
    return bn(F.conv2d(x, conv.weight[:, :, rows, cols], padding=padding))
