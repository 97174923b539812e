import copy
import math

import pytest
import torch

from rkd.models import _fast as fast
from rkd.models._fast import abf as fast_abf
from rkd.models._fast.recomputed import RecomputedABF
from rkd.models.connectors import ABFConnector
from rkd.registry import MODELS

IMPLS = ['reference', 'fast']


def build(student_channels, teacher_channels, **cfg) -> ABFConnector:
    """As the distiller builds it."""
    return MODELS.build(dict(type='rkd.ABFConnector', **cfg, student_channels=student_channels,
                             teacher_channels=teacher_channels))


# ---- an oracle written from the paper, sharing no code with rkd -----------------------------


def oracle_bn(x, bn):
    """BatchNorm in training mode: batch statistics, biased variance."""
    mean = x.mean((0, 2, 3), keepdim=True)
    var = ((x - mean)**2).mean((0, 2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + bn.eps) * bn.weight.view(1, -1, 1, 1) + \
        bn.bias.view(1, -1, 1, 1)


def oracle_conv1x1(x, weight, bias=None):
    out = torch.einsum('nchw,oc->nohw', x, weight[:, :, 0, 0])
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def oracle_conv3x3(x, weight):
    """Zero padding 1, stride 1: a sum over the nine taps of shifted 1x1 convs."""
    h, w = x.shape[-2:]
    padded = torch.zeros(*x.shape[:2], h + 2, w + 2, dtype=x.dtype)
    padded[:, :, 1:-1, 1:-1] = x
    return sum(
        torch.einsum('nchw,oc->nohw', padded[:, :, i:i + h, j:j + w], weight[:, :, i, j])
        for i in range(3) for j in range(3))


def oracle_nearest(x, size):
    """Output pixel i reads input pixel floor(i * in / out)."""
    (h, w), (oh, ow) = x.shape[-2:], size
    rows = [i * h // oh for i in range(oh)]
    cols = [j * w // ow for j in range(ow)]
    return x[:, :, rows][:, :, :, cols]


def oracle_connector(connector, feats, sizes):
    outs, residual = [None] * len(feats), None
    for i in reversed(range(len(feats))):
        abf = connector.abfs[i]
        x = oracle_bn(oracle_conv1x1(feats[i], abf.conv1.conv.weight), abf.conv1.bn)
        if residual is not None:
            residual = oracle_nearest(residual, tuple(x.shape[-2:]))
            a = torch.sigmoid(
                oracle_conv1x1(torch.cat([x, residual], 1), abf.att.weight, abf.att.bias))
            x = x * a[:, 0:1] + residual * a[:, 1:2]
        if tuple(x.shape[-2:]) != tuple(sizes[i]):
            x = oracle_nearest(x, tuple(sizes[i]))
        outs[i] = oracle_bn(oracle_conv3x3(x, abf.conv2.conv.weight), abf.conv2.bn)
        residual = x
    return outs


# ---- helpers ---------------------------------------------------------------------------------


def make_inputs(student_channels, student_sizes, dtype=torch.float32, batch=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, *s, generator=gen, dtype=dtype).requires_grad_()
            for c, s in zip(student_channels, student_sizes)]


def forward_backward(forward, connector, feats, sizes, seed=1):
    """Outputs of ``forward(feats, sizes)``, then the gradients of a random mean of them
    w.r.t. the inputs and the connector's parameters."""
    outs = forward(feats, sizes)
    gen = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).mean() for o in outs)
    grads = torch.autograd.grad(loss, list(feats) + list(connector.parameters()))
    return [o.detach() for o in outs], grads


def assert_all_close(got, expected, tol):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, atol=tol, rtol=tol)


# ---- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize('impl', IMPLS)
def test_matches_oracle_float64(impl):
    s_ch, t_ch = [3, 4, 5], [2, 3, 4]
    s_sizes = [(7, 6), (4, 3), (1, 1)]
    t_sizes = [(5, 6), (4, 3), (2, 2)]  # a down-sampling, an identity, an up-sampling
    connector = build(s_ch, t_ch, impl=impl).double()
    feats = make_inputs(s_ch, s_sizes, torch.float64)
    outs, grads = forward_backward(connector, connector, feats, t_sizes)
    expected_outs, expected_grads = forward_backward(
        lambda f, s: oracle_connector(connector, f, s), connector, feats, t_sizes)
    assert [tuple(o.shape) for o in outs] == [(3, c, *s) for c, s in zip(t_ch, t_sizes)]
    assert_all_close(outs, expected_outs, 1e-10)
    assert_all_close(grads, expected_grads, 1e-10)


CASES = {
    # student channels, teacher channels, student sizes, teacher sizes
    'cifar-like': ([8, 16, 32, 32], [8, 16, 32, 32], [(16, 16), (8, 8), (4, 4), (1, 1)],
                   [(16, 16), (8, 8), (4, 4), (1, 1)]),
    'teacher sizes differ': ([6, 10, 12], [7, 9, 16], [(9, 9), (5, 5), (3, 3)],
                             [(18, 18), (5, 5), (6, 6)]),
    'non-integer factors': ([5, 6, 7], [4, 8, 3], [(7, 5), (3, 2), (2, 2)],
                            [(5, 7), (4, 3), (3, 3)]),
    'odd and non-square': ([4, 8, 8, 16], [8, 8, 16, 16], [(15, 9), (7, 5), (3, 3), (1, 2)],
                           [(15, 9), (7, 5), (4, 4), (1, 2)]),
}


@pytest.mark.parametrize('train', [True, False])
@pytest.mark.parametrize('case', list(CASES))
def test_fast_matches_reference(case, train):
    s_ch, t_ch, s_sizes, t_sizes = CASES[case]
    reference = build(s_ch, t_ch, impl='reference').train(train)
    fast = build(s_ch, t_ch, impl='fast').train(train)
    fast.load_state_dict(reference.state_dict())
    if not train:  # give eval mode non-trivial running statistics
        for name, buf in reference.named_buffers():
            if 'running' in name:
                buf.uniform_(0.5, 1.5)
        fast.load_state_dict(reference.state_dict())
    feats = make_inputs(s_ch, s_sizes)
    ref_outs, ref_grads = forward_backward(reference, reference, feats, t_sizes)
    outs, grads = forward_backward(fast, fast, feats, t_sizes)
    assert_all_close(outs, ref_outs, 1e-5)
    assert_all_close(grads, ref_grads, 1e-5)
    assert_all_close(list(fast.state_dict().values()), list(reference.state_dict().values()),
                     1e-6)


@pytest.mark.parametrize('case', ['cifar-like', 'odd and non-square'])
def test_recomputed_levels_in_one_image_chunks_match_reference(case, monkeypatch):
    """Every fusing level of the training path runs as RecomputedABF, here one image a chunk."""
    s_ch, t_ch, s_sizes, t_sizes = CASES[case]
    monkeypatch.setattr(fast_abf, 'RECOMPUTE_CHUNK_BYTES', 1)
    calls = []
    apply = RecomputedABF.apply
    monkeypatch.setattr(RecomputedABF, 'apply',
                        lambda plan, *inputs: calls.append(plan.keep_residual)
                        or apply(plan, *inputs))
    reference = build(s_ch, t_ch, impl='reference')
    fast = build(s_ch, t_ch, impl='fast')
    fast.load_state_dict(reference.state_dict())
    feats = make_inputs(s_ch, s_sizes)
    ref_outs, ref_grads = forward_backward(reference, reference, feats, t_sizes)
    outs, grads = forward_backward(fast, fast, feats, t_sizes)
    assert calls[-1] is False and all(calls[:-1]) and len(calls) >= 2  # keep_residual per level
    assert_all_close(outs, ref_outs, 1e-5)
    assert_all_close(grads, ref_grads, 1e-5)
    assert_all_close(list(fast.state_dict().values()), list(reference.state_dict().values()),
                     1e-6)


def test_recomputed_level_cumulative_bn_and_frozen_features():
    """BN with ``momentum=None`` (a cumulative average) and student features that need no
    gradient, as a frozen student would give."""
    s_ch, t_ch, s_sizes, t_sizes = CASES['cifar-like']
    reference = build(s_ch, t_ch, impl='reference')
    for module in reference.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    fast = copy.deepcopy(reference)
    fast.impl = 'fast'
    feats = [f.detach() for f in make_inputs(s_ch, s_sizes)]
    for _ in range(2):
        for connector in (reference, fast):
            sum(o.square().mean() for o in connector(feats, t_sizes)).backward()
    assert_all_close([p.grad for p in fast.parameters()],
                     [p.grad for p in reference.parameters()], 1e-5)
    assert_all_close(list(fast.state_dict().values()), list(reference.state_dict().values()),
                     1e-6)


def test_sync_batchnorm_is_left_to_its_own_forward():
    """A SyncBatchNorm converted in (multi-GPU training) must reduce its statistics across
    processes, so its level runs the composed path, not RecomputedABF."""
    connector = torch.nn.SyncBatchNorm.convert_sync_batchnorm(build([4, 8], [6, 10]))
    feat = torch.randn(2, 4, 4, 4)
    assert isinstance(connector.abfs[0].conv1.bn, torch.nn.SyncBatchNorm)
    assert not fast_abf.recomputable(parts(connector.abfs[0]), feat, (4, 4))
    assert fast_abf.recomputable(parts(build([4, 8], [6, 10]).abfs[0]), feat, (4, 4))


def parts(abf) -> fast_abf.ABFParts:
    """What ``ABF.fast_forward`` hands the fast form."""
    return fast_abf.ABFParts(abf.conv1.conv, abf.conv1.bn, abf.att, abf.conv2.conv, abf.conv2.bn)


def saved_bytes(connector, feats, sizes) -> int:
    """Bytes of the distinct tensors autograd keeps for backward, inputs and weights aside."""
    kept = {id(t) for t in feats} | {id(p) for p in connector.parameters()}
    saved = {}

    def pack(t):
        if id(t) not in kept:
            saved[(t.data_ptr(), t.shape)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        connector(feats, sizes)
    return sum(saved.values())


def test_fast_path_keeps_a_fraction_of_the_reference_for_backward():
    s_ch, t_ch, s_sizes, t_sizes = CASES['cifar-like']
    feats = make_inputs(s_ch, s_sizes)
    fast, reference = (saved_bytes(build(s_ch, t_ch, impl=impl), feats, t_sizes)
                       for impl in IMPLS[::-1])
    assert fast < 0.25 * reference


def test_state_dict_interchangeable():
    reference = build([4, 8], [6, 10], impl='reference')
    fast = build([4, 8], [6, 10], impl='fast')
    ref_shapes = {k: v.shape for k, v in reference.state_dict().items()}
    assert ref_shapes == {k: v.shape for k, v in fast.state_dict().items()}
    fast.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(fast.state_dict(), strict=True)
    assert 'abfs.0.att.weight' in ref_shapes and 'abfs.1.att.weight' not in ref_shapes


def test_structure_and_init():
    connector = build([16, 32, 64, 64], [32, 64, 128, 256])
    assert isinstance(connector, ABFConnector) and len(connector.abfs) == 4
    assert connector.mid_channels == 64
    assert build([16, 1024], [8, 8]).mid_channels == 512
    assert build([16, 32], [8, 8], mid_channels=24).abfs[0].conv1.conv.out_channels == 24
    abf = connector.abfs[0]
    assert abf.att.in_channels == 128 and abf.att.out_channels == 2 and abf.att.bias is not None
    assert abf.conv2.conv.kernel_size == (3, 3) and abf.conv2.conv.bias is None
    for conv in (abf.conv1.conv, abf.conv2.conv):  # kaiming_uniform, a=1
        fan_in = conv.weight[0].numel()
        bound = math.sqrt(6 / ((1 + 1**2) * fan_in))
        assert conv.weight.abs().max() <= bound
        assert conv.weight.abs().max() > 0.9 * bound


def relative_error(got, expected) -> float:
    return ((got.float() - expected).norm() / expected.norm()).item()


def test_bf16_autocast_is_as_close_to_float32_as_the_reference():
    """Under bf16 autocast (about 3 significant digits) the fast form's outputs and gradients
    are as close to the float32 result as the reference's under the same autocast.

    Per tensor for the outputs, the student features' gradients and the weights' gradients;
    the bias gradients, sums over every pixel of a nearly cancelling gradient, only within the
    whole parameter update (the fast form's conv1-BN and attention biases are 2-14x further
    from float32 than the reference's, depending on the initialisation).
    """
    torch.manual_seed(0)
    s_ch, t_ch, s_sizes, t_sizes = CASES['cifar-like']
    reference = build(s_ch, t_ch, impl='reference')
    fast = build(s_ch, t_ch, impl='fast')
    fast.load_state_dict(reference.state_dict())
    feats = make_inputs(s_ch, s_sizes, batch=8)
    expected_outs, expected_grads = forward_backward(reference, reference, feats, t_sizes)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        ref_outs, ref_grads = forward_backward(reference, reference, feats, t_sizes)
        outs, grads = forward_backward(fast, fast, feats, t_sizes)
    assert all(o.dtype == torch.bfloat16 for o in outs)
    names = ([f'output {i}' for i in range(len(outs))]
             + [f'student feature {i} grad' for i in range(len(feats))]
             + [f'{name} grad' for name, _ in fast.named_parameters()])
    for name, got, ref, expected in zip(names, outs + list(grads), ref_outs + list(ref_grads),
                                        expected_outs + list(expected_grads)):
        bound = 2.0 if name.endswith('weight grad') else 1.25
        if not name.endswith('bias grad'):
            assert relative_error(got, expected) <= bound * relative_error(ref, expected), name
    update, ref_update, expected_update = (
        torch.cat([g.float().flatten() for g in gs[len(feats):]])
        for gs in (grads, ref_grads, expected_grads))
    assert relative_error(update, expected_update) <= 1.1 * relative_error(
        ref_update, expected_update)


@pytest.mark.parametrize('feat_dtype', [torch.float32, torch.bfloat16])  # the student's
@pytest.mark.parametrize('sizes', [[(4, 4), (2, 2)], [(5, 5), (3, 3)]])  # recomputed, resized
def test_autocast_runs(sizes, feat_dtype):
    """Under autocast a student's features come in its dtype, float32 parameters or not."""
    connector = build([4, 8], [6, 10])
    feats = make_inputs([4, 8], [(4, 4), (2, 2)], feat_dtype)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = connector(feats, sizes)
        sum(o.float().mean() for o in outs).backward()
    assert [tuple(o.shape) for o in outs] == [(3, 6, *sizes[0]), (3, 10, *sizes[1])]
    assert all(f.grad is not None and f.grad.dtype == feat_dtype for f in feats)


def test_level_count_mismatch():
    with pytest.raises(ValueError, match=r'3 student levels.*2 teacher levels'):
        build([4, 8, 8], [6, 10])


@pytest.mark.parametrize('impl', IMPLS)
def test_forward_errors_show_expected_and_got(impl):
    connector = build([4, 8], [6, 10], impl=impl)
    feats = make_inputs([4, 8], [(4, 4), (2, 2)])
    with pytest.raises(ValueError, match=r'2 student features.*got 1 features \[\(3, 4, 4, 4\)'):
        connector(feats[:1], [(4, 4)])
    bad = [feats[0], torch.randn(3, 5, 2, 2)]
    with pytest.raises(ValueError, match=r'level 1.*\(N, 8, H, W\), got \(3, 5, 2, 2\)'):
        connector(bad, [(4, 4), (2, 2)])


def test_unknown_impl_names_the_forms():
    with pytest.raises(ValueError, match=r"ABFConnector impl must be one of \('fast', "
                       r"'reference', 'compiled', 'auto'\), got 'fats' \(did you mean "
                       r"'fast'\?\)"):
        build([4, 8], [6, 10], impl='fats')


@pytest.mark.slow  # torch.compile takes about a minute (minutes on a busy 2-core machine)
def test_compiled_connector_and_loss_match_reference():
    """``impl='compiled'``: the literal forms through torch.compile, in training, with a resize
    and a fusion; outputs, gradients and BN statistics as the reference's."""
    s_ch, t_ch, s_sizes, t_sizes = [4, 6], [5, 8], [(6, 6), (3, 3)], [(6, 6), (2, 2)]
    torch.manual_seed(0)
    reference = build(s_ch, t_ch, impl='reference')
    compiled = build(s_ch, t_ch, impl='compiled')
    compiled.load_state_dict(reference.state_dict())
    feats = make_inputs(s_ch, s_sizes)
    teacher = [torch.randn(3, c, *s) for c, s in zip(t_ch, t_sizes)]
    results = []
    for impl, connector in (('reference', reference), ('compiled', compiled)):
        loss = MODELS.build(dict(type='rkd.HCLoss', impl=impl))
        for _ in range(2):  # the second call runs the compiled code without compiling
            value = loss(connector(feats, t_sizes), teacher)
        results.append([value.detach()] + list(
            torch.autograd.grad(value, list(feats) + list(connector.parameters()))))
    assert_all_close(results[1], results[0], 1e-5)
    assert_all_close(list(compiled.state_dict().values()),
                     list(reference.state_dict().values()), 1e-6)


def test_the_form_is_chosen_when_set_and_logged(monkeypatch):
    """Forward hooks on the ABF modules fire in the reference form (what tools that hook them
    pick, as docs/faq.md says), not all in the fast one; each choice is logged."""
    logged = []
    monkeypatch.setattr(fast, 'print_log', lambda msg, **_: logged.append(msg))
    connector = build([4, 8], [6, 10])
    assert logged.pop().startswith("ABFConnector runs its fast form (impl='auto')")
    calls = []
    connector.abfs[0].att.register_forward_hook(lambda *_: calls.append('att'))
    feats, sizes = make_inputs([4, 8], [(4, 4), (2, 2)]), [(4, 4), (2, 2)]
    connector(feats, sizes)
    assert calls == []
    connector.impl = 'reference'
    assert 'forward hooks fire on every ABF module' in logged.pop()
    connector(feats, sizes)
    assert calls == ['att']
