import pytest
import torch

from rkd.models._fast.layout import block_sum, blocks, cells, nhwc


@pytest.mark.parametrize('factors', [(1, 1), (2, 2), (8, 8), (1, 3), (4, 2)])
def test_block_sum_is_the_sum_over_each_block(factors):
    fh, fw = factors
    x = torch.randn(2, 3 * fh, 5 * fw, 4, dtype=torch.float64)
    got = block_sum(blocks(x, factors))
    assert got.shape == (2, 3, 5, 4)
    torch.testing.assert_close(got, blocks(x, factors).sum((2, 4)))
    # the adjoint of the broadcast that up-samples a coarse map
    coarse = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    up = (cells(coarse) * torch.ones_like(blocks(x, factors))).reshape_as(x)
    torch.testing.assert_close(torch.autograd.grad(up, coarse, x)[0], got)


def test_nhwc_of_channels_last_is_contiguous():
    x = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    assert nhwc(x).is_contiguous()
