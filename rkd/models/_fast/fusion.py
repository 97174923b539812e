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


def fusion_backward(grad: Tensor, x: Tensor, residual: Tensor, att: Tensor, weight: Tensor,
                    factors: Factors, grad_x: Tensor, work: Tensor
                    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients of :func:`fuse` after :func:`attention` (the attention recomputed from its
    saved output ``att``) for the gradient ``grad`` of the fused map, all (N, H, W, C) and
    ``residual`` (N, h, w, C).

    Writes ``grad * a0`` into ``grad_x``; the rest of ``x``'s gradient, ``grad_logit_x @
    weight[:, :C]``, and the x half of the weight gradient, ``grad_logit_x.T @ x``, are left to
    the caller, who may read them from what ``x`` is made of rather than pass over ``x`` again.
    Returns the gradients of ``residual``, of the logits at ``x``'s pixels (N, H, W, 2), of the
    residual half of the weight, and of the bias. ``work``, like ``x``, is scratch space: a
    chunked backward reuses both rather than have the allocator fault in fresh pages for every
    chunk."""
    mid = x.shape[-1]
    grad, x_blocks, r = blocks(grad, factors), blocks(x, factors), cells(residual)
    work = blocks(work, factors)
    a0, a1 = att[..., 0:1], att[..., 1:2]
    # through the sigmoid, to the logits of the attention: at full and at the residual's size
    grad_a0 = torch.mul(grad, x_blocks, out=work).sum(-1, keepdim=True)
    grad_a1 = torch.mul(grad, r, out=work).sum(-1, keepdim=True)
    grad_logit = torch.cat([grad_a0 * a0 * (1 - a0), grad_a1 * a1 * (1 - a1)], -1)
    grad_logit_r = block_sum(grad_logit)
    torch.mul(grad, a0, out=blocks(grad_x, factors))
    grad_r = block_sum(torch.mul(grad, a1, out=work))
    grad_r.view(-1, mid).addmm_(grad_logit_r.reshape(-1, 2), weight[:, mid:])
    grad_weight_r = grad_logit_r.reshape(-1, 2).t() @ residual.reshape(-1, mid)
    return grad_r, unblock(grad_logit), grad_weight_r, grad_logit_r.sum((0, 1, 2))
