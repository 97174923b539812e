"""The teacher option of the official CIFAR code: BN on batch statistics, stored ones untouched."""
import copy

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from rkd.models.algorithms.teacher_bn import teacher_bn_mode
from rkd.registry import MODELS

from helpers import reviewkd_algorithm


def batch_stats_algorithm() -> dict:
    cfg = reviewkd_algorithm()
    cfg['teacher']['bn_mode'] = 'batch_stats'
    return cfg


def bn_state(module: nn.Module) -> dict:
    """Every BN layer's stored statistics, copied."""
    return {name: value.clone() for name, value in module.state_dict().items()
            if name.endswith(('running_mean', 'running_var', 'num_batches_tracked'))}


def test_features_are_a_train_mode_forward_and_stats_stay(mmpretrain_scope):
    torch.manual_seed(0)
    model = MODELS.build(batch_stats_algorithm())
    assert model.teacher_bn_mode == 'batch_stats'
    inputs = torch.randn(4, 3, 16, 16) * 2 + 1
    stats = bn_state(model.teacher)
    features = model.teacher_features(inputs, None)

    # the same teacher run in train mode (a copy: its running statistics would move)
    reference = copy.deepcopy(model)
    reference.teacher_bn_mode = 'eval'
    reference.teacher.train()
    expected = reference.teacher_features(inputs, None)
    assert len(features) == len(expected) == 5
    for got, want in zip(features, expected):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    # not vacuous: the stored statistics give other features
    model.teacher_bn_mode = 'eval'
    stored = model.teacher_features(inputs, None)
    assert not torch.allclose(stored[0], features[0])
    # the copy in train mode did update its statistics, the option did not
    assert bn_state(reference.teacher)['backbone.bn1.num_batches_tracked'] == 1
    for name, value in bn_state(model.teacher).items():
        assert torch.equal(value, stats[name]), name
    assert not any(m.training for m in model.teacher.modules()), 'teacher back in eval'


def test_a_training_step_leaves_the_teacher_statistics(mmpretrain_scope):
    torch.manual_seed(0)
    model = MODELS.build(batch_stats_algorithm()).train()
    teacher_stats, student_stats = bn_state(model.teacher), bn_state(model.student)
    data = dict(inputs=[torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8) for _ in range(4)],
                data_samples=[DataSample().set_gt_label(i) for i in range(4)])
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    log_vars = model.train_step(data, optim)
    assert log_vars['loss_reviewkd'] > 0
    for name, value in bn_state(model.teacher).items():
        assert torch.equal(value, teacher_stats[name]), f'teacher {name} changed'
    after = bn_state(model.student)
    assert after['backbone.bn1.num_batches_tracked'] == 1, 'the student trains its BN'
    assert not torch.equal(after['backbone.bn1.running_mean'],
                           student_stats['backbone.bn1.running_mean'])


def test_only_batchnorm_switches_and_comes_back():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5)).eval()
    x = torch.randn(2, 3, 8, 8) + 3
    with teacher_bn_mode(net, 'batch_stats'):
        assert net[1].training and not net[1].track_running_stats
        assert not net[0].training and not net[2].training, 'dropout stays off'
        first, second = net(x), net(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    conv = net[0](x)
    mean = conv.mean((0, 2, 3), keepdim=True)
    var = conv.var((0, 2, 3), unbiased=False, keepdim=True)
    bn = net[1]
    expected = (conv - mean) / torch.sqrt(var + bn.eps) * bn.weight[:, None, None] \
        + bn.bias[:, None, None]
    torch.testing.assert_close(first, expected)
    assert not net[1].training and net[1].track_running_stats
    assert net[1].num_batches_tracked == 0 and torch.equal(net[1].running_mean, torch.zeros(4))
    with teacher_bn_mode(net, 'eval'):
        assert not any(isinstance(m, _BatchNorm) and m.training for m in net.modules())


def test_unknown_bn_mode_is_refused_at_build(mmpretrain_scope):
    cfg = reviewkd_algorithm()
    cfg['teacher']['bn_mode'] = 'train'
    with pytest.raises(ValueError, match=r"bn_mode must be one of \('eval', 'batch_stats'\)"):
        MODELS.build(cfg)
