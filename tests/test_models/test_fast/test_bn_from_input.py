"""BN of a 1x1 conv's output from the conv's input: the batch statistics and the gradients equal
those of conv + BN in training mode, computed by autograd (float64, so only the order of the
sums differs)."""
import torch
import torch.nn.functional as F

from rkd.models._fast.bn_from_input import (BNGrads, bn_backward, bn_statistics, input_moments,
                                            pixels)


def test_statistics_and_gradients_match_conv_then_bn():
    gen = torch.Generator().manual_seed(0)
    n, c_in, c_out, eps = 3, 5, 7, 1e-5
    feat = (torch.rand(n, c_in, 4, 6, generator=gen, dtype=torch.float64) + 0.5) \
        .contiguous(memory_format=torch.channels_last).requires_grad_()
    weight = torch.randn(c_out, c_in, generator=gen, dtype=torch.float64, requires_grad=True)
    bn_weight = torch.rand(c_out, generator=gen, dtype=torch.float64).requires_grad_()
    bn_bias = torch.randn(c_out, generator=gen, dtype=torch.float64, requires_grad=True)
    c = F.conv2d(feat, weight[:, :, None, None])
    x = F.batch_norm(c, None, None, bn_weight, bn_bias, training=True, eps=eps)
    grad_x = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    expected = torch.autograd.grad(x, (feat, weight, bn_weight, bn_bias), grad_x)

    flat_feat = pixels(feat.detach())
    moments = input_moments(flat_feat, rows=50, dtype=torch.float64)  # chunks of 50 pixels
    mean, var = bn_statistics(weight.detach(), moments)
    torch.testing.assert_close(mean, c.mean((0, 2, 3)))
    torch.testing.assert_close(var, c.var((0, 2, 3), unbiased=False))

    invstd = torch.rsqrt(var + eps)
    scale = (invstd * bn_weight).detach()
    flat_grad = pixels(grad_x.contiguous(memory_format=torch.channels_last))
    grad_feat = torch.empty_like(feat, memory_format=torch.channels_last)
    pixels(grad_feat).copy_(flat_grad @ (weight.detach() * scale[:, None]))
    got = bn_backward(BNGrads(weight.detach(), invstd, bn_weight.detach(), mean, moments,
                              flat_grad.t() @ flat_feat, flat_grad.sum(0)),
                      flat_feat, pixels(grad_feat))
    torch.testing.assert_close(grad_feat, expected[0])
    for g, e in zip(got, expected[1:]):
        torch.testing.assert_close(g, e)
