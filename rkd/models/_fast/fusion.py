"""ABF's attention fusion on channels_last maps, read as (N, H, W, C) (see :mod:`.layout`): the
element-wise work runs along contiguous channels, and an integer nearest up-sampling of the
residual is a broadcast. The 1x1 attention conv commutes with nearest resizing, so its residual
half runs at the residual's resolution.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from .layout import Factors, block_sum, blocks, cells, unblock


def attention(logit_x: Tensor, residual: Tensor, weight: Tensor, bias: Tensor,
              factors: Factors) -> Tensor:
    """``sigmoid(att(cat[x, up(residual)]))`` as (N, h, fh, w, fw, 2), from the (N, H, W, 2)
    ``logit_x = x @ weight[:, :C].T`` (the caller may read it from whatever ``x`` is made of)
    and (N, h, w, C) ``residual``; ``weight`` is the (2, 2C) matrix of the 1x1 conv."""
    mid = residual.shape[-1]
    logit_r = torch.addmm(bias, residual.reshape(-1, mid), weight[:, mid:].t())
    return torch.sigmoid(blocks(logit_x, factors) + cells(logit_r.view(*residual.shape[:3], 2)))


def fuse(x: Tensor, residual: Tensor, att: Tensor, factors: Factors,
         out: Optional[Tensor] = None) -> Tensor:
    """``x * a0 + up(residual) * a1`` as (N, H, W, C), in ``out`` when given (not
    differentiable then: for hand-written backwards)."""
    x, a0, a1 = blocks(x, factors), att[..., 0:1], att[..., 1:2]
    if out is None:
        return unblock(torch.addcmul(x * a0, cells(residual), a1))
    torch.mul(x, a0, out=blocks(out, factors)).addcmul_(cells(residual), a1)
    return out


def fusion_backward(grad: Tensor, grad_a0: Tensor, residual: Tensor, att: Tensor,
                    weight: Tensor, factors: Factors, work: Tensor, grad_residual: Tensor
                    ) -> Tuple[Tensor, Tensor, Tensor]:
    """Gradients of :func:`fuse` after :func:`attention` (the attention recomputed from its
    saved output ``att``) for the gradient ``grad`` of the fused map, (N, H, W, C), and
    ``residual``, (N, h, w, C), except those through ``x``.

    ``x``'s share is left to the caller, who reads it from what ``x`` is made of rather than
    pass over the wide ``x`` and ``grad`` again: ``grad_a0``, (N, H, W, 1), is ``sum(grad * x)``
    over channels; ``x``'s gradient is ``grad * a0 + grad_logit_x @ weight[:, :C]``, and the x
    half of the weight gradient ``grad_logit_x.T @ x``. Writes the gradient of ``residual``
    into ``grad_residual`` and returns those of the logits at ``x``'s pixels (N, H, W, 2), of
    the residual half of the weight, and of the bias. ``work``, (N, H, W, C), is scratch space:
    a chunked backward reuses it rather than have the allocator fault in fresh pages for every
    chunk."""
    mid = grad.shape[-1]
    grad, r, work = blocks(grad, factors), cells(residual), blocks(work, factors)
    grad_a0 = blocks(grad_a0, factors)
    a0, a1 = att[..., 0:1], att[..., 1:2]
    # through the sigmoid, to the logits of the attention: at full and at the residual's size
    grad_a1 = torch.mul(grad, r, out=work).sum(-1, keepdim=True)
    grad_logit = torch.cat([grad_a0 * a0 * (1 - a0), grad_a1 * a1 * (1 - a1)], -1)
    grad_logit_r = block_sum(grad_logit)
    block_sum(torch.mul(grad, a1, out=work), out=grad_residual)
    grad_residual.view(-1, mid).addmm_(grad_logit_r.reshape(-1, 2), weight[:, mid:])
    grad_weight_r = grad_logit_r.reshape(-1, 2).t() @ residual.reshape(-1, mid)
    return unblock(grad_logit), grad_weight_r, grad_logit_r.sum((0, 1, 2))
