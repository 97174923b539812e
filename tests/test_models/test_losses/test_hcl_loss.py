import math
import re

import pytest
import torch
import torch.nn.functional as F

from rkd.models.losses import HCLoss
from rkd.models.losses.hcl_loss import pyramid
from rkd.registry import MODELS

IMPLS = ['reference', 'fast']
SHAPES = [(2, 3, 8, 8), (2, 4, 7, 5), (2, 2, 5, 9), (2, 3, 3, 3), (2, 5, 2, 2), (2, 6, 1, 1),
          (2, 3, 4, 6), (2, 2, 12, 12), (2, 2, 6, 2), (1, 3, 10, 10)]


def build(**cfg) -> HCLoss:
    return MODELS.build(dict(type='rkd.HCLoss', **cfg))


# ---- an oracle written from the paper, sharing no code with rkd -----------------------------


def oracle_mse(a, b):
    return ((a - b)**2).sum() / a.numel()


def oracle_pool(x, k):
    """Adaptive average pooling: bin i spans [floor(i*h/k), ceil((i+1)*h/k))."""
    h, w = x.shape[-2:]
    rows = [(i * h // k, math.ceil((i + 1) * h / k)) for i in range(k)]
    cols = [(j * w // k, math.ceil((j + 1) * w / k)) for j in range(k)]
    return torch.stack([
        torch.stack([x[:, :, r0:r1, c0:c1].mean((2, 3)) for c0, c1 in cols], -1)
        for r0, r1 in rows
    ], -2)


def oracle_hcl(preds, targets, levels=(4, 2, 1), loss_weight=1.0):
    total = 0
    for y, t in zip(preds, targets):
        loss, weight, norm = oracle_mse(y, t), 1.0, 1.0
        for k in levels:
            if k < y.shape[-2]:
                weight = weight / 2
                loss = loss + weight * oracle_mse(oracle_pool(y, k), oracle_pool(t, k))
                norm += weight
        total = total + loss / norm
    return loss_weight * total


# ---- the tests -------------------------------------------------------------------------------


def make_pair(dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    preds = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in SHAPES]
    targets = [torch.randn(s, generator=gen, dtype=dtype) for s in SHAPES]
    return preds, targets


@pytest.mark.parametrize('impl', IMPLS)
def test_matches_oracle(impl):
    preds, targets = make_pair()
    loss = build(loss_weight=5.0, impl=impl)(preds, targets)
    expected = oracle_hcl(preds, targets, loss_weight=5.0)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    torch.testing.assert_close(loss.double(), expected, rtol=1e-6, atol=0)
    grads = torch.autograd.grad(loss, preds)
    for g, e in zip(grads, torch.autograd.grad(expected, preds)):  # float32 vs float64
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6 * e.abs().max().item())


@pytest.mark.parametrize('levels', [(4, 2, 1), (1, 2, 4), (3, 1), (8, 4, 2, 1), (2, )])
def test_fast_matches_reference(levels):
    preds, targets = make_pair(torch.float32)
    ref = build(levels=levels, impl='reference')(preds, targets)
    fast = build(levels=levels, impl='fast')(preds, targets)
    torch.testing.assert_close(fast, ref, rtol=1e-6, atol=1e-7)
    for g, e in zip(torch.autograd.grad(fast, preds), torch.autograd.grad(ref, preds)):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(ref, oracle_hcl(preds, targets, levels), rtol=1e-5,
                               atol=0)


@pytest.mark.parametrize('impl', IMPLS)
def test_identical_inputs_give_zero(impl):
    preds, _ = make_pair(torch.float32)
    assert build(impl=impl)(preds, [p.detach().clone() for p in preds]).item() == 0


@pytest.mark.parametrize('impl', IMPLS)
def test_one_pixel_level_is_plain_mse(impl):
    y, t = torch.randn(4, 7, 1, 1), torch.randn(4, 7, 1, 1)
    torch.testing.assert_close(build(impl=impl, loss_weight=2.0)([y], [t]),
                               2.0 * F.mse_loss(y, t))


def test_pyramid_weights_halve_over_kept_sizes():
    assert pyramid(8, (4, 2, 1)) == ([(4, 0.5), (2, 0.25), (1, 0.125)], 1.875)
    assert pyramid(4, (4, 2, 1)) == ([(2, 0.5), (1, 0.25)], 1.75)
    assert pyramid(3, (4, 2, 1)) == ([(2, 0.5), (1, 0.25)], 1.75)
    assert pyramid(2, (4, 2, 1)) == ([(1, 0.5)], 1.5)
    assert pyramid(1, (4, 2, 1)) == ([], 1.0)


@pytest.mark.parametrize('impl', IMPLS)
def test_level_weights_normalise(impl):
    loss = build(impl=impl)
    # a constant difference c has MSE c^2 at every pyramid size: the weights normalise to 1
    t = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(loss([t + 0.5], [t]), torch.tensor(0.25))
    # a checkerboard difference vanishes in every pool: only the full-map MSE (weight 1) is left
    board = (torch.arange(8)[:, None] + torch.arange(8)).remainder(2) * 2.0 - 1
    torch.testing.assert_close(loss([t + board], [t]), torch.tensor(1 / 1.875))
    torch.testing.assert_close(loss([t[..., :2, :2] + board[:2, :2]], [t[..., :2, :2]]),
                               torch.tensor(1 / 1.5))


@pytest.mark.parametrize('impl', IMPLS)
def test_float32_under_autocast_and_half_inputs(impl):
    preds, targets = make_pair(torch.float32)
    expected = build(impl=impl)(preds, targets)
    half_preds = [p.detach().bfloat16().requires_grad_() for p in preds]
    half_targets = [t.bfloat16() for t in targets]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = build(impl=impl)(half_preds, half_targets)
    assert loss.dtype == torch.float32
    exact = build(impl=impl)([p.float() for p in half_preds], [t.float() for t in half_targets])
    torch.testing.assert_close(loss, exact)
    loss.backward()
    assert all(p.grad.dtype == torch.bfloat16 for p in half_preds)
    assert expected.dtype == torch.float32


@pytest.mark.parametrize('impl', IMPLS)
def test_teacher_gets_no_gradient(impl):
    y = torch.randn(2, 3, 8, 8, requires_grad=True)
    t = torch.randn(2, 3, 8, 8, requires_grad=True)
    build(impl=impl)([y], [t]).backward()
    assert y.grad is not None and t.grad is None


def test_errors_show_shapes_and_level():
    loss = build()
    y = [torch.randn(2, 3, 8, 8), torch.randn(2, 4, 4, 4)]
    t = [torch.randn(2, 3, 8, 8), torch.randn(2, 4, 4, 5)]
    with pytest.raises(ValueError, match=r'level 1.*\(2, 4, 4, 4\).*\(2, 4, 4, 5\)'):
        loss(y, t)
    with pytest.raises(ValueError, match=r'2 student features.*1 teacher features'):
        loss(y, t[:1])
    with pytest.raises(ValueError, match='impl'):
        build(impl='slow')


@pytest.mark.parametrize('levels, wrong', [
    ((4, 2, 0), r'\[0\]'),
    ((4, -2, 1), r'\[-2\]'),
    ((4, 2.5, 1), r'\[2.5\]'),
    ((4, True), r'\[True\]'),
    ('421', r'str'),
    (4, r'int'),
])
def test_bad_levels_are_refused_at_build(levels, wrong):
    with pytest.raises(ValueError, match=rf'HCLoss levels .*{wrong}'):
        build(levels=levels)


def test_levels_accept_a_list_and_the_empty_pyramid():
    assert build(levels=[4, 2, 1]).levels == (4, 2, 1)
    y, t = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(build(levels=())([y], [t]), F.mse_loss(y, t))


@pytest.mark.parametrize('loss_weight', [-1.0, float('nan'), float('inf'), '5', None, True])
def test_bad_loss_weight_is_refused_at_build(loss_weight):
    with pytest.raises(ValueError, match=r'HCLoss loss_weight .*' + re.escape(repr(loss_weight))):
        build(loss_weight=loss_weight)


def test_zero_loss_weight_turns_the_loss_off():
    y = torch.randn(2, 3, 8, 8, requires_grad=True)
    assert build(loss_weight=0)([y], [torch.randn(2, 3, 8, 8)]).item() == 0


def test_block_pyramid_one_image_a_chunk_with_mixed_layouts(monkeypatch):
    """The one-pass form (pools of equal nested blocks) in one-image chunks, on a channels_last
    student map against a contiguous teacher map, as the fast connector gives them; a level
    whose pools are not all equal blocks takes the other path."""
    from rkd.models._fast import hcl as fast_hcl
    monkeypatch.setattr(fast_hcl, 'CHUNK_BYTES', 1)
    calls = []
    apply = fast_hcl.BlockHCL.apply
    monkeypatch.setattr(fast_hcl.BlockHCL, 'apply', lambda *a: calls.append(a[4]) or apply(*a))
    gen = torch.Generator().manual_seed(0)
    preds = [torch.randn(3, 4, 8, 12, generator=gen).contiguous(
        memory_format=torch.channels_last).requires_grad_(),
        torch.randn(3, 4, 6, 6, generator=gen, requires_grad=True)]  # 6 % 4: not blocks
    targets = [torch.randn(3, 4, 8, 12, generator=gen), torch.randn(3, 4, 6, 6, generator=gen)]
    fast, ref = (build(impl=impl)(preds, targets) for impl in ('fast', 'reference'))
    assert calls == [4]
    torch.testing.assert_close(fast, ref, atol=1e-6, rtol=1e-5)
    for g, e in zip(torch.autograd.grad(fast, preds), torch.autograd.grad(ref, preds)):
        torch.testing.assert_close(g, e, atol=1e-7, rtol=1e-5)
