"""rkd's backbones: sizes against the CIFAR KD literature, stage maps, pre-activation hook points,
freezing. One table drives every test; its feature points are the ones the docstrings promise."""
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.utils import register_all_modules
from torch.nn.modules.batchnorm import _BatchNorm

import rkd  # noqa: F401  (registers rkd's backbones)
from rkd.registry import MODELS

register_all_modules(init_default_scope=False)


def relu_points(paths, first_stage=0):
    """Stages whose output is relu(input of ``path``, last call)."""
    return [(first_stage + i, path, 'relu') for i, path in enumerate(paths)]


# name: backbone cfg, pooled channels, input size, classes, reference params (M), stage shapes
# (C, H) with all stages out, feature points (stage, module, check).
# Reference params: the public CIFAR KD code bases' counts for resnets and WRNs; the others are
# RepDistiller's models counted (VGG with its conv biases, which we drop: -0.03%) and
# MobileNetV1's standard 4.2M.
SPECS = {
    'resnet20': (dict(type='CIFARResNet', depth=20), 64, 32, 100, 0.28,
                 [(16, 32), (32, 16), (64, 8)],
                 relu_points(['layer1.2.relu', 'layer2.2.relu', 'layer3.2.relu'])),
    'resnet32': (dict(type='CIFARResNet', depth=32), 64, 32, 100, 0.47,
                 [(16, 32), (32, 16), (64, 8)],
                 relu_points(['layer1.4.relu', 'layer2.4.relu', 'layer3.4.relu'])),
    'resnet56': (dict(type='CIFARResNet', depth=56), 64, 32, 100, 0.86,
                 [(16, 32), (32, 16), (64, 8)],
                 relu_points(['layer1.8.relu', 'layer2.8.relu', 'layer3.8.relu'])),
    'resnet110': (dict(type='CIFARResNet', depth=110), 64, 32, 100, 1.7,
                  [(16, 32), (32, 16), (64, 8)],
                  relu_points(['layer1.17.relu', 'layer2.17.relu', 'layer3.17.relu'])),
    'resnet8x4': (dict(type='CIFARResNet', depth=8, width_multiplier=4), 256, 32, 100, 1.2,
                  [(64, 32), (128, 16), (256, 8)],
                  relu_points(['layer1.0.relu', 'layer2.0.relu', 'layer3.0.relu'])),
    'resnet32x4': (dict(type='CIFARResNet', depth=32, width_multiplier=4), 256, 32, 100, 7.4,
                   [(64, 32), (128, 16), (256, 8)],
                   relu_points(['layer1.4.relu', 'layer2.4.relu', 'layer3.4.relu'])),
    'wrn_16_2': (dict(type='WideResNet', depth=16, widen_factor=2), 128, 32, 100, 0.70,
                 [(32, 32), (64, 16), (128, 8)],
                 [(0, 'layer2.0.relu1', 'bn'), (1, 'layer3.0.relu1', 'bn'), (2, 'relu', 'relu')]),
    'wrn_40_1': (dict(type='WideResNet', depth=40, widen_factor=1), 64, 32, 100, 0.57,
                 [(16, 32), (32, 16), (64, 8)],
                 [(0, 'layer2.0.relu1', 'bn'), (1, 'layer3.0.relu1', 'bn'), (2, 'relu', 'relu')]),
    'wrn_40_2': (dict(type='WideResNet', depth=40, widen_factor=2), 128, 32, 100, 2.2,
                 [(32, 32), (64, 16), (128, 8)],
                 [(0, 'layer2.0.relu1', 'bn'), (1, 'layer3.0.relu1', 'bn'), (2, 'relu', 'relu')]),
    'vgg8': (dict(type='CIFARVGG', depth=8), 512, 32, 100, 3.96,
             [(128, 16), (256, 8), (512, 4), (512, 4)],
             relu_points([f'layer{i}.0.activate' for i in range(1, 5)])),
    'vgg13': (dict(type='CIFARVGG', depth=13), 512, 32, 100, 9.46,
              [(128, 16), (256, 8), (512, 4), (512, 4)],
              relu_points([f'layer{i}.1.activate' for i in range(1, 5)])),
    'mobilenetv2': (dict(type='CIFARMobileNetV2'), 1280, 32, 100, 0.81,
                    [(8, 16), (12, 16), (16, 8), (32, 4), (48, 4), (80, 2), (160, 2), (1280, 2)],
                    [(1, 'layer2', 'same'), (2, 'layer3', 'same'), (4, 'layer5', 'same'),
                     (6, 'layer7', 'same'), (7, 'conv2.activate', 'relu')]),
    'shufflenetv1': (dict(type='CIFARShuffleNetV1'), 960, 32, 100, 0.95,
                     [(240, 16), (480, 8), (960, 4)],
                     relu_points(['layer1.3.relu', 'layer2.7.relu', 'layer3.3.relu'])),
    'shufflenetv2': (dict(type='CIFARShuffleNetV2'), 1024, 32, 100, 1.36,
                     [(116, 16), (232, 8), (464, 4), (1024, 4)],
                     relu_points(['layer1.3.relu', 'layer2.7.relu', 'layer3.3.relu',
                                  'conv2.activate'])),
    'mobilenetv1': (dict(type='MobileNetV1'), 1024, 64, 1000, 4.23,
                    [(128, 16), (256, 8), (512, 4), (1024, 2)],
                    relu_points([f'layer{i}.{b}.pointwise_conv.activate'
                                 for i, b in zip(range(1, 5), (2, 1, 5, 1))])),
}


def build_classifier(backbone: dict, channels: int, num_classes: int) -> torch.nn.Module:
    backbone = dict(backbone, type='rkd.' + backbone['type'])
    cfg = dict(
        type='ImageClassifier', backbone=backbone, neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=channels,
                  loss=dict(type='CrossEntropyLoss')))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MMPRETRAIN_MODELS.build(cfg)


def build_all_stages(backbone: dict) -> torch.nn.Module:
    num_stages = len(MODELS.build(backbone).stage_names)
    return MODELS.build(dict(backbone, out_indices=tuple(range(num_stages))))


@pytest.mark.parametrize('name', SPECS)
def test_classifier_size_matches_the_literature(name):
    backbone, channels, size, num_classes, ref_m, _, _ = SPECS[name]
    model = build_classifier(backbone, channels, num_classes)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(params - ref_m) / ref_m < 0.05, f'{name}: {params:.3f}M vs {ref_m}M'
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, size, size), mode='tensor')
    assert logits.shape == (1, num_classes)


@pytest.mark.parametrize('name', SPECS)
def test_stage_outputs_shallow_to_deep(name):
    backbone, _, size, _, _, shapes, _ = SPECS[name]
    model = build_all_stages(backbone)
    outs = model(torch.randn(2, 3, size, size))
    assert [tuple(o.shape) for o in outs] == [(2, c, h, h) for c, h in shapes]
    default_out = MODELS.build(backbone)(torch.randn(2, 3, size, size))
    assert len(default_out) == 1 and default_out[0].shape == outs[-1].shape


@pytest.mark.parametrize('name', SPECS)
def test_pre_activation_hook_points(name):
    """The documented module's recorded value (input, last call; or output) is the stage's
    pre-activation: it has negative values and ``relu`` of it is the stage output."""
    backbone, _, size, _, _, _, points = SPECS[name]
    model = build_all_stages(backbone).eval()
    modules = dict(model.named_modules())
    calls = {path: [] for _, path, _ in points}
    for _, path, check in points:
        io = 'output' if check == 'same' else 'input'
        modules[path].register_forward_hook(
            lambda m, args, out, path=path, io=io: calls[path].append(
                (out if io == 'output' else args[0]).clone()))
    with torch.no_grad():
        outs = model(torch.randn(2, 3, size, size))
        for stage, path, check in points:
            recorded = calls[path][-1]
            assert (recorded < 0).any(), f'{path}: not a pre-activation value'
            if check == 'relu':
                torch.testing.assert_close(torch.relu(recorded), outs[stage])
            elif check == 'same':
                torch.testing.assert_close(recorded, outs[stage])
            else:  # WRN: the next block's BN of the raw stage output
                bn = modules[path.replace('relu1', 'bn1')]
                torch.testing.assert_close(recorded, bn(outs[stage]))


@pytest.mark.parametrize('name', SPECS)
def test_frozen_stages_and_norm_eval(name):
    backbone = SPECS[name][0]
    model = MODELS.build(dict(backbone, frozen_stages=1, norm_eval=False))
    model.train()
    frozen = model.stem_names + model.stage_names[0]
    for attr in frozen:
        module = getattr(model, attr)
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    later = getattr(model, model.stage_names[1][-1])
    assert all(p.requires_grad for p in later.parameters()) and later.training

    model = MODELS.build(dict(backbone, norm_eval=True)).train()
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    assert model.training


def test_out_indices_and_frozen_stages_are_checked():
    model = MODELS.build(dict(type='CIFARResNet', depth=8, out_indices=(0, -1)))
    assert model.out_indices == (0, 2)
    with pytest.raises(ValueError, match='out_indices'):
        MODELS.build(dict(type='CIFARResNet', depth=8, out_indices=(3, )))
    with pytest.raises(ValueError, match='frozen_stages'):
        MODELS.build(dict(type='WideResNet', depth=16, frozen_stages=4))
    with pytest.raises(ValueError, match='depth'):
        MODELS.build(dict(type='CIFARResNet', depth=18))


def test_default_init_is_kaiming_and_unit_bn():
    model = MODELS.build(dict(type='CIFARResNet', depth=8))
    model.init_weights()
    conv = model.layer2[0].conv2  # 3x3, 32 -> 32: fan_out 288
    assert abs(conv.weight.std().item() - (2 / 288)**0.5) < 0.015
    bn = model.layer2[0].bn2
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
