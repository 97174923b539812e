import pytest
import torch
import torch.nn.functional as F

from rkd.models._fast.nearest import down_factor, nearest_resize, up_factor

SIZES = [((4, 6), (8, 12)), ((8, 12), (4, 6)), ((5, 7), (9, 3)), ((3, 3), (9, 9)),
         ((1, 1), (7, 5)), ((7, 7), (1, 1)), ((6, 6), (4, 4)), ((2, 5), (4, 5))]


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('in_size,out_size', SIZES)
def test_nearest_resize_is_interpolate(in_size, out_size, memory_format):
    x = torch.randn(2, 3, *in_size, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 3, *out_size, dtype=torch.float64)
    expected = F.interpolate(x, size=out_size, mode='nearest')
    got = nearest_resize(x, out_size, memory_format)
    assert torch.equal(got, expected)
    if in_size != out_size:
        assert got.is_contiguous(memory_format=memory_format)
    torch.testing.assert_close(
        torch.autograd.grad(got, x, grad)[0], torch.autograd.grad(expected, x, grad)[0])


def test_factors_follow_interpolate():
    assert up_factor(7, 56) == 8 and up_factor(3, 7) is None
    assert down_factor(56, 28) == 2 and down_factor(6, 4) is None
