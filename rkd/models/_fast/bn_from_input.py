"""Training-mode batch norm of a 1x1 conv's output, known from the conv's input.

With ``c = W x`` per pixel, BN's batch statistics are ``mean(c) = W mean(x)`` and
``var(c) = diag(W cov(x) W^T)``: one pass and one (C_in, C_in) Gram matrix over the input, which
has fewer channels than the output at ReviewKD's shallow levels, instead of passes over the
output. BN then folds into the conv as a per-channel scale of its weight and a bias, so conv and
BN are one matrix product. Backward needs no normalised map either: BN's weight gradient
``sum(grad_x * x_hat)`` is read from the conv's weight gradient, and the terms that batch sums
scale are linear in the input, so they are added once at the end through (C_in, C_in) matrices.
"""
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from .layout import nhwc


class Moments(NamedTuple):
    """Channel mean and (biased) covariance of a map's pixels, and how many pixels."""
    mean: Tensor
    cov: Tensor
    count: int


def pixels(x: Tensor) -> Tensor:
    """A channels_last (N, C, H, W) map as a (pixels, C) matrix: a view, which writes go
    through."""
    return nhwc(x).view(-1, x.shape[1])


def input_moments(flat: Tensor, rows: int, dtype: torch.dtype) -> Moments:
    """:class:`Moments` in ``dtype`` of the rows of the (pixels, C) ``flat``: the covariance from
    centred chunks of ``rows`` rows (two passes), as exact as BN's own two-pass variance."""
    mean = flat.mean(0, dtype=dtype)
    cov = mean.new_zeros((len(mean), len(mean)))
    centred = mean.new_empty((min(rows, len(flat)), len(mean)))
    for start in range(0, len(flat), rows):
        part = flat[start:start + rows]
        d = torch.sub(part, mean, out=centred[:len(part)])
        cov.addmm_(d.t(), d)
    return Moments(mean, cov / len(flat), len(flat))


def bn_statistics(weight: Tensor, moments: Moments) -> Tuple[Tensor, Tensor]:
    """Batch mean and biased variance of ``weight @ x`` over pixels ``x`` of ``moments``;
    ``weight`` is the (C_out, C_in) matrix of the 1x1 conv."""
    return weight @ moments.mean, ((weight @ moments.cov) * weight).sum(1)


class BNGrads(NamedTuple):
    """What :func:`bn_backward` reads: the conv's (C_out, C_in) ``weight``, BN's ``invstd``,
    affine ``bn_weight`` and batch ``mean``, the input's :class:`Moments`, and the sums over
    pixels of the gradient ``grad_x`` of BN's output: ``outer_sum`` of ``outer(grad_x, x)``
    (the conv's weight gradient of ``grad_x``) and ``sum`` of ``grad_x``."""
    weight: Tensor
    invstd: Tensor
    bn_weight: Tensor
    mean: Tensor
    moments: Moments
    outer_sum: Tensor
    sum: Tensor


def bn_backward(g: BNGrads, feat: Tensor, grad_feat: Optional[Tensor]
                ) -> Tuple[Tensor, Tensor, Tensor]:
    """The gradients of the conv's weight, BN's weight and BN's bias; adds into ``grad_feat``
    (holding ``scale * grad_x`` through the conv) the part of the input gradient that the batch
    sums scale. ``feat`` and ``grad_feat`` are (pixels, C_in) matrices.

    With ``x_hat = (c - mean) * invstd`` and ``scale = invstd * bn_weight``, BN's backward is
    ``grad_c = scale * (grad_x - mean(grad_x) - x_hat * mean(grad_x * x_hat))
    = scale * grad_x + k0 + k1 * c``, and ``c = W feat``: the input gradient gets
    ``feat (W^T k1 W) + k0 W``, the weight gradient ``outer(k0, sum(feat)) + k1 W (feat^T feat)``.
    """
    w, m, scale = g.weight, g.moments, g.invstd * g.bn_weight
    grad_bn_weight = g.invstd * ((g.outer_sum * w).sum(1) - g.mean * g.sum)
    k1 = -scale * g.invstd * grad_bn_weight / m.count
    k0 = -k1 * g.mean - scale * g.sum / m.count
    gram = m.count * (m.cov + torch.outer(m.mean, m.mean))  # feat^T feat
    grad_weight = (scale[:, None] * g.outer_sum + torch.outer(k0, m.count * m.mean)
                   + k1[:, None] * (w @ gram))
    if grad_feat is not None:
        through, shift = w.t() @ (k1[:, None] * w), k0 @ w
        if grad_feat.dtype == feat.dtype == w.dtype:
            grad_feat.addmm_(feat, through).add_(shift)
        else:  # half-precision features, under autocast
            grad_feat += torch.addmm(shift, feat.to(w.dtype), through)
    return grad_weight, grad_bn_weight, g.sum
