"""A training-mode fusing ABF level (conv1 -> BN -> attention fusion -> conv2) as one autograd
Function that keeps almost nothing for backward.

Autograd would keep the 1x1 conv's output, its batch-normed map and the fused map, each
(N, mid, H, W): at the shallowest level these are the largest tensors of the whole distillation
step, and in backward their gradients come on top. This Function keeps the student feature (which
the student keeps anyway), the low-resolution residual (kept by the deeper level), the 2-channel
attention and the batch statistics. Backward recomputes the rest (a 1x1 conv and element-wise
work) and runs one batch chunk at a time, so the only full-size map it holds is the gradient of
the batch-normed map, which BN's backward needs whole. The math is the same, summed in another
order.
"""
from typing import List, Optional, Tuple

import torch
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


def _buffers(count: int, like: Tensor, chunk: int, dtype: torch.dtype) -> List[Tensor]:
    """Scratch maps of one chunk of ``like`` (N, H, W, C), reused chunk after chunk: asking the
    allocator for each afresh costs page faults that take longer than the arithmetic on CPU."""
    shape = (min(chunk, len(like)), *like.shape[1:])
    return [like.new_empty(shape, dtype=dtype) for _ in range(count)]


def _conv1x1(feat: Tensor, weight: Tensor) -> Tensor:
    """conv1's output as a contiguous (N, H, W, C) tensor."""
    return nhwc(F.conv2d(feat, weight).contiguous(memory_format=torch.channels_last))


class RecomputedABF(torch.autograd.Function):
    """``conv2(fuse(bn(conv1(feat)), residual))`` without conv2's BN, and the fused map.

    Inputs are channels_last; ``residual`` is ``factors`` times smaller than the fused map (an
    exact nearest up-sampling). BN runs in training mode and updates ``running_mean`` and
    ``running_var`` as :class:`torch.nn.BatchNorm2d` does. Under autocast the convolutions run
    in its dtype and the rest in the parameters'; backward does the same.

    ``chunk``: images per chunk. ``keep_residual``: whether the fused map (the residual of the
    next shallower level) is returned; otherwise the second output is None and the map is never
    whole.
    """

    @staticmethod
    def forward(ctx, feat: Tensor, residual: Tensor, conv1_weight: Tensor, bn_weight: Tensor,
                bn_bias: Tensor, att_weight: Tensor, att_bias: Tensor, conv2_weight: Tensor,
                running_mean: Optional[Tensor], running_var: Optional[Tensor], momentum: float,
                eps: float, factors: Factors, chunk: int, keep_residual: bool
                ) -> Tuple[Tensor, Optional[Tensor]]:
        device = feat.device.type
        dtype = (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device)
                 else feat.dtype)
        with torch.autocast(device, enabled=False):  # autocast's casts, done by hand below
            c = _conv1x1(feat.to(dtype), conv1_weight.to(dtype))
            count = c.numel() // c.shape[-1]
            x_buf, f_buf = _buffers(2, c, chunk, bn_weight.dtype)
            # two passes, chunk by chunk: var_mean reduces over the outer dim several times slower
            mean = c.reshape(count, -1).mean(0, dtype=bn_weight.dtype)
            var = sum(torch.sub(c[rows], mean, out=x_buf[:rows.stop - rows.start]).square_()
                      .sum((0, 1, 2)) for rows in _chunks(len(c), chunk)) / count
            if running_mean is not None:  # unbiased variance, as BatchNorm2d keeps
                running_mean.lerp_(mean, momentum)
                running_var.lerp_(var * (count / max(count - 1, 1)), momentum)
            invstd = torch.rsqrt(var + eps)
            scale = invstd * bn_weight
            shift = bn_bias - mean * scale
            res = nhwc(residual)
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
                outs.append(F.conv2d(nchw(f), conv2_weight.to(dtype), padding=1))
        fused = None if fused is None else nchw(fused)
        ctx.save_for_backward(feat, residual, conv1_weight, bn_weight, bn_bias, att_weight,
                              conv2_weight, mean, invstd, torch.cat(atts), fused)
        ctx.factors, ctx.chunk, ctx.dtype = factors, chunk, dtype
        return torch.cat(outs), fused

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_fused: Optional[Tensor]) -> tuple:
        with torch.autocast(grad_out.device.type, enabled=False):
            return RecomputedABF._backward(ctx, grad_out, grad_fused) + (None, ) * 7

    @staticmethod
    def _backward(ctx, grad_out: Tensor, grad_fused: Optional[Tensor]) -> tuple:
        (feat, residual, conv1_weight, bn_weight, bn_bias, att_weight, conv2_weight, mean,
         invstd, att, fused) = ctx.saved_tensors
        factors, mid, chunks = ctx.factors, conv1_weight.shape[0], _chunks(len(feat), ctx.chunk)
        dtype, precise = ctx.dtype, mean.dtype  # of the convs, of the rest
        conv1_w, conv2_w = conv1_weight.to(dtype), conv2_weight.to(dtype)
        res, scale = nhwc(residual), invstd * bn_weight
        grad_x = torch.empty(len(feat), *feat.shape[2:], mid, dtype=precise, device=feat.device)
        grad_res = torch.empty_like(res)
        grad_conv2, grad_att = torch.zeros_like(conv2_weight), torch.zeros_like(att_weight)
        grad_att_bias, grad_bn_bias, grad_bn_weight = (mean.new_zeros(n) for n in (2, mid, mid))
        x_hat_buf, x_buf, f_buf, work = _buffers(4, grad_x, ctx.chunk, precise)
        for rows in chunks:  # conv2 and the fusion, back to the batch-normed map
            n = rows.stop - rows.start
            x_hat = torch.addcmul(-mean * invstd, _conv1x1(feat[rows].to(dtype), conv1_w),
                                  invstd, out=x_hat_buf[:n])
            x = torch.addcmul(bn_bias, x_hat, bn_weight, out=x_buf[:n])
            r = res[rows].to(precise)
            f = (nchw(fuse(x, r, att[rows], factors, out=f_buf[:n]).to(dtype))
                 if fused is None else fused[rows])
            grad_f, grad_w = _conv3x3_backward(grad_out[rows].to(dtype), f, conv2_w)
            grad_conv2 += grad_w
            if grad_fused is not None:
                grad_f += grad_fused[rows]
            grad_f = nhwc(grad_f.contiguous(memory_format=torch.channels_last)).to(precise)
            grad_res[rows], grad_w, grad_b = fusion_backward(
                grad_f, x, r, att[rows], att_weight.flatten(1), factors, grad_x[rows], work[:n])
            grad_att += grad_w.view_as(grad_att)
            grad_att_bias += grad_b
            grad_bn_bias += grad_x[rows].reshape(-1, mid).sum(0)
            grad_bn_weight += torch.mul(grad_x[rows], x_hat, out=work[:n]).reshape(-1, mid).sum(0)
        # BN's backward, chunk by chunk: with x_hat = (c - mean) * invstd,
        # grad_c = scale * (grad_x - mean(grad_x) - x_hat * mean(grad_x * x_hat)) = k0 + k1 * c
        # + scale * grad_x
        count = grad_x.numel() // mid
        k1 = -scale * invstd * grad_bn_weight / count
        k0 = -k1 * mean - scale * grad_bn_bias / count
        grad_feat = torch.empty_like(feat) if ctx.needs_input_grad[0] else None
        grad_conv1 = torch.zeros_like(conv1_weight)
        for rows in chunks:
            feat_rows = feat[rows].to(dtype)
            grad_c = torch.addcmul(k0, _conv1x1(feat_rows, conv1_w), k1,
                                   out=x_hat_buf[:rows.stop - rows.start])
            grad_c = nchw(grad_c.addcmul_(grad_x[rows], scale).to(dtype))
            grad_f, grad_w = _conv1x1_backward(grad_c, feat_rows, conv1_w, grad_feat is not None)
            grad_conv1 += grad_w
            if grad_feat is not None:
                grad_feat[rows] = grad_f
        return (grad_feat, nchw(grad_res), grad_conv1, grad_bn_weight, grad_bn_bias,
                grad_att, grad_att_bias, grad_conv2)
