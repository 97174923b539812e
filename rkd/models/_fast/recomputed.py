"""A training-mode fusing ABF level (conv1 -> BN -> attention fusion -> conv2) as one autograd
Function that keeps almost nothing for backward and passes over the full-resolution maps as
few times as it can.

Autograd would keep the 1x1 conv's output, its batch-normed map and the fused map, each
(N, mid, H, W): at the shallowest level these are the largest tensors of the whole distillation
step, and in backward their gradients come on top. This Function keeps the student feature (which
the student keeps anyway), the low-resolution residual (kept by the deeper level), the 2-channel
attention and the batch statistics. Backward recomputes the rest and runs one batch chunk at a
time, so besides the fused map that the next shallower level reads, and its gradient, it holds no
full-size map of the mid channels.

BN's batch statistics come from the student feature's moments and BN folds into conv1
(:mod:`.bn_from_input`), so conv1 + BN is one matrix product with a bias, forward and recomputed;
the attention's logits of the BN output are read from the student feature's fewer channels
through the folded conv, and so are, in backward, their part, the BN output's gradient and its
dot product with that output. The math is the same, summed in another order.
"""
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .bn_from_input import BNGrads, Moments, bn_backward, bn_statistics, input_moments, pixels
from .fusion import attention, fuse, fusion_backward
from .layout import Factors, nchw, nhwc, unblock

_conv_backward = torch.ops.aten.convolution_backward


def _chunks(batch: int, chunk: int) -> List[slice]:
    return [slice(i, min(i + chunk, batch)) for i in range(0, batch, chunk)]


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


def _augmented(feat: Tensor, dtype: torch.dtype) -> Tensor:
    """``[feat | 1]`` as a (pixels, C_in + 1) matrix in ``dtype``, one copy of ``feat`` in any
    layout (which the channels_last copy it replaces cost too): against ``[W | b]`` one product
    is a 1x1 conv with a bias, and ``g.T @ [feat | 1]`` sums ``g`` over pixels in its last
    column, without a pass of its own over ``g``."""
    n, c, h, w = feat.shape
    a = feat.new_empty((n, h, w, c + 1), dtype=dtype)
    a[..., :-1] = nhwc(feat)
    a[..., -1] = 1
    return a.view(-1, c + 1)


def _pixel_rows(rows: slice, image_pixels: int) -> slice:
    """The rows of a (pixels, C) matrix that hold the images ``rows``."""
    return slice(rows.start * image_pixels, rows.stop * image_pixels)


def _conv_bn(a: Tensor, weight: Tensor, out: Tensor) -> Tensor:
    """``a @ weight.T`` (``a = [feat | 1]``, ``weight = [W | b]``) into the (N, H, W, C_out)
    ``out``. Under autocast the product runs in ``a``'s dtype without the bias column, which is
    added in ``out``'s wider one."""
    flat = out.view(-1, out.shape[-1])
    if a.dtype == out.dtype:
        torch.mm(a, weight.t(), out=flat)
    else:
        torch.add(weight[:, -1], a[:, :-1] @ weight[:, :-1].t().to(a.dtype), out=flat)
    return out


def _add_mm(out: Tensor, a: Tensor, b: Tensor) -> None:
    """``out += a @ b``, in place where the dtypes allow."""
    if a.dtype == out.dtype:
        out.addmm_(a, b)
    else:
        out += a @ b


def _mul_into(out: Tensor, a: Tensor, b: Tensor) -> None:
    """``out = a * b``, without a temporary where the dtypes allow."""
    if a.dtype == out.dtype:
        torch.mul(a, b, out=out)
    else:
        out.copy_(a * b)


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
            a = _augmented(feat, dtype)
            image_pixels = feat.shape[2] * feat.shape[3]
            moments = input_moments(a[:, :-1], chunk * image_pixels, bn_weight.dtype)
            w1 = conv1_weight.flatten(1).to(dtype).to(bn_weight.dtype)
            mean, var = bn_statistics(w1, moments)
            invstd = torch.rsqrt(var + plan.eps)
            scale = invstd * bn_weight
            shift = bn_bias - mean * scale
            # conv1 and BN as one conv with a bias, [W | b], and the attention's x half through it
            folded = torch.cat([w1 * scale[:, None], shift[:, None]], 1)
            att_w = att_weight.flatten(1)
            att_x = att_w[:, :len(w1)] @ folded
            mid, shape = len(w1), (len(feat), *feat.shape[2:])
            x_buf, f_buf = _buffers(2, (*shape, mid), chunk, bn_weight)
            res, conv2_w = nhwc(residual), _channels_last(conv2_weight, dtype)
            fused = feat.new_empty((*shape, mid), dtype=dtype) if keep_residual else None
            # conv2's output, filled chunk by chunk: a cat of the chunks would hold it twice
            out = torch.empty((len(feat), conv2_weight.shape[0], *feat.shape[2:]),
                              dtype=dtype, device=feat.device, memory_format=torch.channels_last)
            atts = []
            for rows in _chunks(len(feat), chunk):
                # BN's output, the attention and the fusion in the parameters' precision
                n = rows.stop - rows.start
                a_rows = a[_pixel_rows(rows, image_pixels)]
                x = _conv_bn(a_rows, folded, x_buf[:n])
                r = res[rows].to(mean.dtype)
                logit_x = (a_rows.to(mean.dtype) @ att_x.t()).view(*x.shape[:3], 2)
                atts.append(attention(logit_x, r, att_w, att_bias, factors))
                f = fuse(x, r, atts[-1], factors, out=f_buf[:n]).to(dtype)
                if fused is not None:
                    fused[rows] = f
                out[rows] = F.conv2d(nchw(f), conv2_w, padding=1)
        fused = None if fused is None else nchw(fused)
        ctx.save_for_backward(a, residual, conv1_weight, bn_weight, bn_bias, att_weight,
                              conv2_weight, mean, invstd, moments.mean, moments.cov,
                              torch.cat(atts), fused)
        ctx.factors, ctx.chunk, ctx.dtype, ctx.count = factors, chunk, dtype, moments.count
        ctx.feat_shape, ctx.feat_dtype = feat.shape, feat.dtype
        ctx.mark_non_differentiable(mean, var)
        return out, fused, mean, var

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_fused: Optional[Tensor], _grad_mean: Tensor,
                 _grad_var: Tensor) -> tuple:
        """None for the plan, then the gradient of each of the :class:`Inputs`."""
        with torch.autocast(grad_out.device.type, enabled=False):
            return (None, *RecomputedABF._backward(ctx, grad_out, grad_fused))

    @staticmethod
    def _backward(ctx, grad_out: Tensor, grad_fused: Optional[Tensor]) -> Inputs:
        (a, residual, conv1_weight, bn_weight, bn_bias, att_weight, conv2_weight, mean,
         invstd, mean_in, cov_in, att, fused) = ctx.saved_tensors
        n_images, c_in, h, w = ctx.feat_shape
        factors, mid, chunks = ctx.factors, conv1_weight.shape[0], _chunks(n_images, ctx.chunk)
        dtype, precise = ctx.dtype, mean.dtype  # of the convs, of the rest
        w1 = conv1_weight.flatten(1).to(dtype).to(precise)
        scale = invstd * bn_weight
        shift = bn_bias - mean * scale
        folded = torch.cat([w1 * scale[:, None], shift[:, None]], 1)  # [W | b], as forward's
        conv2_w = _channels_last(conv2_weight, dtype)
        att_w = att_weight.flatten(1)
        att_x = att_w[:, :mid]
        att_x_feat = att_x @ folded  # grad_logit_x -> [grad_feat | _], through x and conv1
        res = nhwc(residual)
        grad_res = torch.empty(res.shape, dtype=precise, device=res.device)
        needs_grad = Inputs(*ctx.needs_input_grad[1:])  # [0]: the plan
        grad_feat = (torch.empty(ctx.feat_shape, dtype=ctx.feat_dtype, device=a.device,
                                 memory_format=torch.channels_last) if needs_grad.feat else None)
        # over pixels, sums of outer(grad_x, [feat | 1]) and of outer(grad_logit_x, [feat | 1])
        outer_sum = mean.new_zeros(folded.shape)
        logit_outer_sum = mean.new_zeros((2, folded.shape[1]))
        grad_conv2 = torch.zeros_like(conv2_weight, memory_format=torch.channels_last)
        grad_att_r, grad_att_bias = torch.zeros_like(att_w[:, mid:]), mean.new_zeros(2)
        x_buf, f_buf, work = _buffers(3, (n_images, h, w, mid), ctx.chunk, mean)
        for rows in chunks:
            n, a_rows = rows.stop - rows.start, a[_pixel_rows(rows, h * w)]
            r = res[rows].to(precise)
            f = (nchw(fuse(_conv_bn(a_rows, folded, x_buf[:n]), r, att[rows], factors,
                           out=f_buf[:n]).to(dtype)) if fused is None else fused[rows])
            grad_f, grad_w = _conv3x3_backward(grad_out[rows].to(dtype), f, conv2_w)
            grad_conv2 += grad_w
            if grad_fused is not None:
                grad_f += grad_fused[rows]
            grad_f = nhwc(grad_f.contiguous(memory_format=torch.channels_last)).to(precise)
            # x = [feat | 1] @ folded.T is (pixels, mid), [feat | 1] only C_in + 1 wide: x's
            # gradient, grad_x = grad_f * a0 + grad_logit @ att_x, and sum(grad_f * x) are
            # read through folded from grad_f @ folded, never made whole
            a_precise = a_rows.to(precise)
            through = grad_f.reshape(-1, mid) @ folded
            grad_a0 = (through * a_precise).sum(-1, keepdim=True)
            grad_logit, grad_w, grad_b = fusion_backward(
                grad_f, grad_a0.view(n, h, w, 1), r, att[rows], att_w, factors, work[:n],
                grad_res[rows])
            grad_att_r += grad_w
            grad_att_bias += grad_b
            a0 = unblock(att[rows])[..., 0].reshape(-1, 1)
            # grad_x.T @ [feat | 1]; grad_logit's share of it is added at the end
            grad_logit = grad_logit.view(-1, 2)
            logit_outer_sum.addmm_(grad_logit.t(), a_precise)
            _add_mm(outer_sum, grad_f.reshape(-1, mid).t().to(dtype), (a_precise * a0).to(dtype))
            if grad_feat is not None:  # scale * grad_x through conv1; BN's batch terms below
                grad_feat_rows = pixels(grad_feat[rows])
                _mul_into(grad_feat_rows, through[:, :-1], a0)
                _add_mm(grad_feat_rows, grad_logit, att_x_feat[:, :-1])
        outer_sum.addmm_(att_x.t(), logit_outer_sum)
        grad_att_x = logit_outer_sum @ folded.t()
        grad_w1, grad_bn_weight, grad_bn_bias = bn_backward(
            BNGrads(w1, invstd, bn_weight, mean, Moments(mean_in, cov_in, ctx.count),
                    outer_sum[:, :-1], outer_sum[:, -1]), a[:, :-1],
            None if grad_feat is None else pixels(grad_feat))
        grad_att = torch.cat([grad_att_x, grad_att_r], 1).view_as(att_weight)
        return Inputs(grad_feat, nchw(grad_res).to(residual.dtype), grad_w1.view_as(conv1_weight),
                      grad_bn_weight, grad_bn_bias, grad_att, grad_att_bias, grad_conv2)
