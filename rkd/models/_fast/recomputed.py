"""A training-mode fusing ABF level (conv1 -> BN -> attention fusion -> conv2) as one autograd
Function that keeps almost nothing for backward.

Autograd would keep the 1x1 conv's output, its batch-normed map and the fused map, each
(N, mid, H, W): at the shallowest level these are the largest tensors of the whole distillation
step, and in backward their gradients come on top. This Function keeps the student feature (which
the student keeps anyway), the low-resolution residual (kept by the deeper level), the 2-channel
attention and the batch statistics. Backward recomputes the rest (a 1x1 conv and element-wise
work) and runs one batch chunk at a time, so besides the fused map that the next shallower level
reads, and its gradient, it holds no full-size map of the mid channels. BN's backward needs batch
sums that are known only after the last chunk; the part of its gradient that they scale is linear
in the student feature, so it is added at the end through (C_in, C_in) matrices instead of a
second pass over the chunks. The math is the same, summed in another order.
"""
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .fusion import attention, fuse, fusion_backward
from .layout import Factors, nchw, nhwc

_conv_backward = torch.ops.aten.convolution_backward


def _chunks(batch: int, chunk: int) -> List[slice]:
    return [slice(i, min(i + chunk, batch)) for i in range(0, batch, chunk)]


def _conv1x1_backward(grad: Tensor, feat: Tensor, weight: Tensor,
                      input_grad: bool) -> Tuple[Optional[Tensor], Tensor]:
    grad_feat, grad_weight, _ = _conv_backward(grad, feat, weight, None, [1, 1], [0, 0], [1, 1],
                                               False, [0, 0], 1, [input_grad, True, False])
    return grad_feat, grad_weight


def _conv3x3_backward(grad: Tensor, x: Tensor, weight: Tensor) -> Tuple[Tensor, Tensor]:
    grad_x, grad_weight, _ = _conv_backward(grad, x, weight, None, [1, 1], [1, 1], [1, 1], False,
                                            [0, 0], 1, [True, True, False])
    return grad_x, grad_weight


def _buffers(count: int, shape: Tuple[int, ...], chunk: int, like: Tensor) -> List[Tensor]:
    """Scratch maps of one chunk of an (N, H, W, C) ``shape``, with ``like``'s dtype and device,
    reused chunk after chunk: asking the allocator for each afresh costs page faults that take
    longer than the arithmetic on CPU."""
    return [like.new_empty((min(chunk, shape[0]), *shape[1:])) for _ in range(count)]


def _channels_last(weight: Tensor, dtype: torch.dtype) -> Tensor:
    """A conv weight in ``dtype`` and channels_last, as the CPU convs on channels_last maps want
    it: given another layout, each call of a chunked conv would copy it afresh, and its gradient
    would come back channels_last, to be added into another layout chunk after chunk."""
    return weight.to(dtype).contiguous(memory_format=torch.channels_last)


def _conv1x1(feat: Tensor, weight: Tensor) -> Tensor:
    """conv1's output as a contiguous (N, H, W, C) tensor."""
    return nhwc(F.conv2d(feat, weight).contiguous(memory_format=torch.channels_last))


class Inputs(NamedTuple):
    """The tensors :class:`RecomputedABF` differentiates, in the order of its inputs and of the
    gradients its backward returns."""
    feat: Tensor
    residual: Tensor
    conv1_weight: Tensor
    bn_weight: Tensor
    bn_bias: Tensor
    att_weight: Tensor
    att_bias: Tensor
    conv2_weight: Tensor


class Plan(NamedTuple):
    """What :class:`RecomputedABF` computes, besides its tensors: conv1's BN epsilon, the
    up-sampling ``factors`` of the residual, images per ``chunk``, and whether the fused map is
    returned (``keep_residual``)."""
    eps: float
    factors: Factors
    chunk: int
    keep_residual: bool


def recomputed_abf(plan: Plan, inputs: Inputs, bn: nn.BatchNorm2d
                   ) -> Tuple[Tensor, Optional[Tensor]]:
    """:class:`RecomputedABF` on ``inputs``, then ``bn``'s running statistics updated from the
    batch statistics it computed, as :class:`torch.nn.BatchNorm2d` updates them."""
    out, fused, mean, var = RecomputedABF.apply(plan, *inputs)
    if bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        momentum = (1.0 / float(bn.num_batches_tracked) if bn.momentum is None
                    else bn.momentum)
        count = inputs.feat.numel() // inputs.feat.shape[1]  # unbiased variance, as BN keeps
        bn.running_mean.lerp_(mean, momentum)
        bn.running_var.lerp_(var * (count / max(count - 1, 1)), momentum)
    return out, fused


class RecomputedABF(torch.autograd.Function):
    """``conv2(fuse(bn(conv1(feat)), residual))`` without conv2's BN, the fused map, and the
    batch mean and (biased) variance of conv1's output.

    Call it through :func:`recomputed_abf`, which keeps BN's running statistics. Inputs are
    ``plan`` and the :class:`Inputs`; they are channels_last, and ``residual`` is
    ``plan.factors`` times smaller than the fused map (an exact nearest up-sampling). BN runs in
    training mode. Under autocast the convolutions run in its dtype and the rest in the
    parameters'; backward does the same. Without ``plan.keep_residual`` the fused map is None
    and never whole.
    """

    @staticmethod
    def forward(ctx, plan: Plan, *tensors: Tensor
                ) -> Tuple[Tensor, Optional[Tensor], Tensor, Tensor]:
        (feat, residual, conv1_weight, bn_weight, bn_bias, att_weight, att_bias,
         conv2_weight) = Inputs(*tensors)
        factors, chunk, keep_residual = plan.factors, plan.chunk, plan.keep_residual
        device = feat.device.type
        dtype = (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device)
                 else feat.dtype)
        with torch.autocast(device, enabled=False):  # autocast's casts, done by hand below
            c = _conv1x1(feat.to(dtype), conv1_weight.to(dtype))
            count = c.numel() // c.shape[-1]
            x_buf, f_buf = _buffers(2, c.shape, chunk, bn_weight)
            # two passes, chunk by chunk: var_mean reduces over the outer dim several times slower
            mean = c.reshape(count, -1).mean(0, dtype=bn_weight.dtype)
            var = sum(torch.sub(c[rows], mean, out=x_buf[:rows.stop - rows.start]).square_()
                      .sum((0, 1, 2)) for rows in _chunks(len(c), chunk)) / count
            invstd = torch.rsqrt(var + plan.eps)
            scale = invstd * bn_weight
            shift = bn_bias - mean * scale
            res, conv2_w = nhwc(residual), _channels_last(conv2_weight, dtype)
            fused = torch.empty_like(c) if keep_residual else None
            outs, atts = [], []
            for rows in _chunks(len(c), chunk):
                # BN's output, the attention and the fusion in the parameters' precision
                n = rows.stop - rows.start
                x = torch.addcmul(shift, c[rows], scale, out=x_buf[:n])
                r = res[rows].to(mean.dtype)
                atts.append(attention(x, r, att_weight.flatten(1), att_bias, factors))
                f = fuse(x, r, atts[-1], factors, out=f_buf[:n]).to(dtype)
                if fused is not None:
                    fused[rows] = f
                outs.append(F.conv2d(nchw(f), conv2_w, padding=1))
        fused = None if fused is None else nchw(fused)
        ctx.save_for_backward(feat, residual, conv1_weight, bn_weight, bn_bias, att_weight,
                              conv2_weight, mean, invstd, torch.cat(atts), fused)
        ctx.factors, ctx.chunk, ctx.dtype = factors, chunk, dtype
        ctx.mark_non_differentiable(mean, var)
        return torch.cat(outs), fused, mean, var

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_fused: Optional[Tensor], _grad_mean: Tensor,
                 _grad_var: Tensor) -> tuple:
        """None for the plan, then the gradient of each of the :class:`Inputs`."""
        with torch.autocast(grad_out.device.type, enabled=False):
            return (None, *RecomputedABF._backward(ctx, grad_out, grad_fused))

    @staticmethod
    def _backward(ctx, grad_out: Tensor, grad_fused: Optional[Tensor]) -> Inputs:
        (feat, residual, conv1_weight, bn_weight, bn_bias, att_weight, conv2_weight, mean,
         invstd, att, fused) = ctx.saved_tensors
        factors, mid, chunks = ctx.factors, conv1_weight.shape[0], _chunks(len(feat), ctx.chunk)
        dtype, precise = ctx.dtype, mean.dtype  # of the convs, of the rest
        c_in, scale = feat.shape[1], invstd * bn_weight
        conv1_w, conv2_w = conv1_weight.to(dtype), _channels_last(conv2_weight, dtype)
        # conv1's backward of scale * grad_x: scale folded into the weight, not into each chunk
        scaled_conv1_w = (conv1_weight * scale.view(-1, 1, 1, 1)).to(dtype)
        res = nhwc(residual)
        grad_res = torch.empty_like(res)
        needs_grad = Inputs(*ctx.needs_input_grad[1:])  # [0]: the plan
        grad_feat = torch.empty_like(feat) if needs_grad.feat else None
        grad_conv1 = torch.zeros_like(conv1_weight).flatten(1)
        grad_conv2 = torch.zeros_like(conv2_weight, memory_format=torch.channels_last)
        grad_att = torch.zeros_like(att_weight)
        grad_att_bias, grad_bn_bias, grad_bn_weight = (mean.new_zeros(n) for n in (2, mid, mid))
        x_hat_buf, x_buf, f_buf, grad_x_buf, work = _buffers(
            5, (len(feat), *feat.shape[2:], mid), ctx.chunk, mean)
        for rows in chunks:
            n, feat_rows = rows.stop - rows.start, feat[rows].to(dtype)
            x_hat = torch.addcmul(-mean * invstd, _conv1x1(feat_rows, conv1_w), invstd,
                                  out=x_hat_buf[:n])
            x = torch.addcmul(bn_bias, x_hat, bn_weight, out=x_buf[:n])
            r = res[rows].to(precise)
            f = (nchw(fuse(x, r, att[rows], factors, out=f_buf[:n]).to(dtype))
                 if fused is None else fused[rows])
            grad_f, grad_w = _conv3x3_backward(grad_out[rows].to(dtype), f, conv2_w)
            grad_conv2 += grad_w
            if grad_fused is not None:
                grad_f += grad_fused[rows]
            grad_f = nhwc(grad_f.contiguous(memory_format=torch.channels_last)).to(precise)
            grad_x = grad_x_buf[:n]
            grad_res[rows], grad_w, grad_b = fusion_backward(
                grad_f, x, r, att[rows], att_weight.flatten(1), factors, grad_x, work[:n])
            grad_att += grad_w.view_as(grad_att)
            grad_att_bias += grad_b
            grad_bn_bias += grad_x.reshape(-1, mid).sum(0)
            grad_bn_weight += torch.mul(grad_x, x_hat, out=work[:n]).reshape(-1, mid).sum(0)
            grad_f, grad_w = _conv1x1_backward(nchw(grad_x.to(dtype)), feat_rows, scaled_conv1_w,
                                               grad_feat is not None)
            grad_conv1 += grad_w.flatten(1)
            if grad_feat is not None:
                grad_feat[rows] = grad_f
        # BN's backward: with x_hat = (c - mean) * invstd and c = conv1(feat) = feat @ w1.T,
        # grad_c = scale * (grad_x - mean(grad_x) - x_hat * mean(grad_x * x_hat))
        #        = scale * grad_x + k0 + k1 * c.
        # scale * grad_x went through conv1 above, chunk by chunk. The rest is linear in feat:
        # its input gradient is feat @ (w1.T k1 w1) + k0 @ w1, its weight gradient
        # outer(k0, sum(feat)) + k1 w1 (feat.T @ feat), with feat flattened to (pixels, C_in).
        count = len(feat) * feat.shape[2] * feat.shape[3]
        k1 = -scale * invstd * grad_bn_weight / count
        k0 = -k1 * mean - scale * grad_bn_bias / count
        w1, flat = conv1_weight.flatten(1).to(precise), nhwc(feat).reshape(-1, c_in).to(precise)
        grad_conv1 = (scale[:, None] * grad_conv1 + torch.outer(k0, flat.sum(0))
                      + k1[:, None] * (w1 @ (flat.t() @ flat)))
        if grad_feat is not None:
            through, shift = w1.t() @ (k1[:, None] * w1), k0 @ w1
            nhwc(grad_feat).view(-1, c_in).add_(torch.addmm(shift, flat, through))
        return Inputs(grad_feat, nchw(grad_res), grad_conv1.view_as(conv1_weight),
                      grad_bn_weight, grad_bn_bias, grad_att, grad_att_bias, grad_conv2)
