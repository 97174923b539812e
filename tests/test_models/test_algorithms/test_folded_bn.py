"""BN folded into the convolution before it, for the teacher's forward: the same features up to
float rounding, the teacher's modules and state dict as built."""
import copy

import pytest
import torch
from mmcv.cnn import ConvModule
from torch import nn

from rkd.models.algorithms.folded_bn import CONV_MODULE, MODULES, BNFolding, find_pairs
from rkd.registry import MODELS

from helpers import reviewkd_algorithm
from tiny_detectors import tiny_detector


def trained_looking_bn(model: nn.Module) -> nn.Module:
    """Random BN statistics and affine parameters, as a trained network has: the initial ones
    (mean 0, var 1, gamma 1 or 0) would hide a wrong fold."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            channels = module.num_features
            module.running_mean.copy_(torch.randn(channels, generator=generator))
            module.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
            module.weight.data.copy_(torch.randn(channels, generator=generator))
            module.bias.data.copy_(torch.randn(channels, generator=generator))
    model.eval()  # some backbones' train() returns None
    return model


def assert_same_up_to_rounding(got, want) -> None:
    """Each map within 1e-5 of the unfolded one, relative to its largest value."""
    got, want = (list(x) if isinstance(x, (tuple, list)) else [x] for x in (got, want))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g - w).abs().max() <= 1e-5 * w.abs().max(), (g - w).abs().max()


def folded_and_unfolded(model: nn.Module, forward, recorded=()):
    """``forward()`` with and without the folding of ``model``'s pairs, and the pairs."""
    pairs = find_pairs(model, recorded)
    with torch.no_grad():
        want = forward()
        with BNFolding(pairs).applied(model):
            got = forward()
    return got, want, pairs


def count_bn(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@pytest.mark.parametrize('backbone, size', [
    (dict(type='mmpretrain.ResNet', depth=18, out_indices=(0, 1, 2, 3)), 64),
    (dict(type='mmpretrain.ResNet', depth=50, out_indices=(0, 1, 2, 3)), 64),
    (dict(type='mmpretrain.ResNetV1c', depth=18, out_indices=(0, 1, 2, 3)), 64),
    (dict(type='rkd.CIFARResNet', depth=8, width_multiplier=4, out_indices=(0, 1, 2)), 32),
])
def test_resnets_fold_every_bn_and_give_the_same_features(backbone, size):
    torch.manual_seed(0)
    model = trained_looking_bn(MODELS.build(backbone))
    state = copy.deepcopy(model.state_dict())
    x = torch.randn(2, 3, size, size)
    got, want, pairs = folded_and_unfolded(model, lambda: model(x))
    assert len(pairs) == count_bn(model)
    assert_same_up_to_rounding(got, want)
    # as built again: no forward left patched, the state dict the same keys and values
    assert not any('forward' in vars(m) for m in model.modules())
    assert model.state_dict().keys() == state.keys()
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_a_wrong_fold_is_caught():
    """Not vacuous: the comparison fails when one BN is left out of its fold."""
    torch.manual_seed(0)
    model = trained_looking_bn(MODELS.build(dict(type='rkd.CIFARResNet', depth=8)))
    x = torch.randn(2, 3, 32, 32)
    pairs = find_pairs(model)
    folding = BNFolding(pairs)
    with torch.no_grad():
        want = model(x)
        with folding.applied(model):
            model.get_submodule(pairs[1].names()[1]).forward = lambda x: x * 1.01
            got = model(x)
    with pytest.raises(AssertionError):
        assert_same_up_to_rounding(got, want)


def test_an_mmdet_fpn_detector_folds_its_backbone(mmdet_scope):
    torch.manual_seed(0)
    model = trained_looking_bn(MODELS.build(tiny_detector('retinanet', width=16, channels=32)))
    x = torch.randn(2, 3, 64, 64)
    got, want, pairs = folded_and_unfolded(model, lambda: model.extract_feat(x))
    assert len(pairs) == count_bn(model) > 0
    assert len(got) == 5
    assert_same_up_to_rounding(got, want)


def test_recorded_conv_outputs_and_bn_inputs_stay_unfolded():
    model = trained_looking_bn(MODELS.build(dict(type='rkd.CIFARResNet', depth=8)))
    every = find_pairs(model)
    assert {pair.kind for pair in every} == {MODULES}
    recorded = [('layer1.0.conv1', 'output'), ('layer1.0.bn2', 'input'),
                ('layer2.0.bn1', 'output'), ('layer2.0.conv2', 'input')]
    kept = find_pairs(model, recorded)
    left_out = {pair.names() for pair in every} - {pair.names() for pair in kept}
    assert left_out == {('layer1.0.conv1', 'layer1.0.bn1'), ('layer1.0.conv2', 'layer1.0.bn2')}


def test_conv_modules_fold_through_their_own_fused_forward():
    torch.manual_seed(0)
    model = trained_looking_bn(nn.Sequential(
        ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type='BN')),
        ConvModule(8, 8, 3, padding=1, norm_cfg=dict(type='BN'), order=('norm', 'conv', 'act')),
        ConvModule(8, 8, 1, norm_cfg=None)))
    x = torch.randn(2, 3, 8, 8)
    got, want, pairs = folded_and_unfolded(model, lambda: model(x))
    # the pre-norm module and the one without a norm have nothing to fold
    assert [(pair.parent, pair.kind) for pair in pairs] == [('0', CONV_MODULE)]
    assert_same_up_to_rounding(got, want)
    with torch.no_grad(), BNFolding(pairs).applied(model):
        # a caller that skips the norm still gets the bare convolution
        unnormalised = model[0](x, norm=False)
    assert_same_up_to_rounding(unnormalised, model[0](x, norm=False))
    assert model[0].efficient_conv_bn_eval_forward is None  # restored


def test_folded_weights_follow_a_checkpoint_loaded_later():
    torch.manual_seed(0)
    model = trained_looking_bn(MODELS.build(dict(type='rkd.CIFARResNet', depth=8)))
    folding = BNFolding(find_pairs(model))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(), folding.applied(model):
        model(x)  # fills the cache
    other = trained_looking_bn(MODELS.build(dict(type='rkd.CIFARResNet', depth=8)))
    for module in other.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.add_(1)
    model.load_state_dict(other.state_dict())
    with torch.no_grad():
        want = model(x)
        with folding.applied(model):
            got = model(x)
    assert_same_up_to_rounding(got, want)


def test_a_training_bn_is_not_folded():
    model = trained_looking_bn(MODELS.build(dict(type='rkd.CIFARResNet', depth=8)))
    folding = BNFolding(find_pairs(model))
    model.train()
    with folding.applied(model):
        assert not any('forward' in vars(m) for m in model.modules())


def test_the_distillation_teacher_folds_and_keeps_its_state_dict(mmpretrain_scope):
    torch.manual_seed(0)
    model = MODELS.build(reviewkd_algorithm())
    trained_looking_bn(model.teacher)
    # the tiny teacher's pre-activations are recorded at relu inputs: BN outputs plus identity
    assert len(model.teacher_folding.pairs) == count_bn(model.teacher)
    keys = set(model.state_dict())
    x = torch.randn(4, 3, 16, 16)
    got = model.teacher_features(x, None)
    unfolded = MODELS.build(dict(reviewkd_algorithm(), teacher=dict(
        reviewkd_algorithm()['teacher'], fold_bn=False)))
    assert unfolded.teacher_folding is None
    unfolded.load_state_dict(model.state_dict())
    want = unfolded.teacher_features(x, None)
    assert_same_up_to_rounding(got, want)
    assert set(model.state_dict()) == keys


def test_a_channels_last_teacher_gives_the_same_features(mmpretrain_scope):
    torch.manual_seed(0)
    model = MODELS.build(reviewkd_algorithm())
    trained_looking_bn(model.teacher)
    other = MODELS.build(dict(reviewkd_algorithm(), teacher=dict(
        reviewkd_algorithm()['teacher'], channels_last=True)))
    other.load_state_dict(model.state_dict())
    assert other.teacher.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 16, 16)
    assert_same_up_to_rounding(other.teacher_features(x, None), model.teacher_features(x, None))
