"""ReviewKD between mmdet detectors of every family: the probe runs what training runs."""
import copy

import pytest
import torch
from mmengine.optim import OptimWrapper

from rkd.models.algorithms.synthetic_batch import synthetic_samples
from rkd.registry import MODELS

from tiny_detectors import tiny_detector

# Each of the five families is the student of one pair and the teacher of another.
PAIRS = [('faster_rcnn', 'mask_rcnn'), ('mask_rcnn', 'retinanet'), ('retinanet', 'fcos'),
         ('fcos', 'atss'), ('atss', 'faster_rcnn')]


def distill_cfg(student: str, teacher: str, teacher_recorders=('neck', ), **kwargs) -> dict:
    return dict(
        type='rkd.SingleTeacherDistill',
        student=tiny_detector(student, width=8, channels=16),
        teacher=dict(config=tiny_detector(teacher, width=16, channels=32), checkpoint=None),
        distiller=dict(type='rkd.ReviewKDDistiller', student_recorders=['neck'],
                       teacher_recorders=list(teacher_recorders),
                       connector=dict(type='rkd.ABFConnector', mid_channels=16),
                       loss=dict(type='rkd.HCLoss', loss_weight=1.0)),
        **kwargs)


def raw_batch(model, sizes=((64, 64), (48, 64))) -> dict:
    """What mmdet's PackDetInputs hands the data preprocessor: uint8 images and samples."""
    samples = [synthetic_samples(model.student, 1, size, seed=i)[0]
               for i, size in enumerate(sizes)]
    images = [torch.randint(0, 256, (3, *size), dtype=torch.uint8) for size in sizes]
    return dict(inputs=images, data_samples=samples)


@pytest.mark.parametrize('student,teacher', PAIRS)
def test_every_family_distills_as_student_and_as_teacher(student, teacher, mmdet_scope):
    torch.manual_seed(0)
    model = MODELS.build(distill_cfg(student, teacher)).train()
    # both FPNs give five 16- resp. 32-channel levels
    connector = model.distiller.connector
    assert list(connector.student_channels) == [16] * 5
    assert list(connector.teacher_channels) == [32] * 5
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    log_vars = model.train_step(raw_batch(model), optim)
    assert torch.isfinite(torch.tensor(log_vars['loss']))
    assert log_vars['loss_reviewkd'] > 0
    assert any(key.startswith('loss_cls') for key in log_vars), 'the student losses are kept'
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), f'teacher {key} changed'


def test_two_stage_teacher_recorded_past_its_neck(mmdet_scope):
    """The teacher then runs its ``tensor`` path, which needs data samples (RPN proposals)."""
    recorders = [dict(source='rpn_head.rpn_conv', call=level) for level in range(5)]
    model = MODELS.build(distill_cfg('retinanet', 'faster_rcnn', recorders)).train()
    assert not model._teacher_stops_at_features
    data = model.data_preprocessor(raw_batch(model), True)
    _, teacher_feats = model.probe_features(**data)
    assert [f.shape[-2:] for f in teacher_feats] == [(64 // 2**k, 64 // 2**k)
                                                     for k in range(2, 7)][:5]
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_reviewkd'])


def test_a_module_that_runs_only_in_loss_mode_can_be_recorded(mmdet_scope):
    """The inputs of a head's loss exist only in a training step: the probe must see them."""
    cfg = distill_cfg('faster_rcnn', 'retinanet')
    cfg['distiller']['student_recorders'] = [dict(source='rpn_head.loss_cls', io='input')]
    cfg['distiller']['teacher_recorders'] = [dict(source='neck', element=0)]
    model = MODELS.build(cfg)
    student_feats, _ = model.probe_features(*_normalised(model))
    assert student_feats[0].shape[1:] == (1, 1, 1)  # RPN objectness logits, one per anchor


def _normalised(model):
    data = model.data_preprocessor(raw_batch(model), True)
    return data['inputs'], data['data_samples']


def test_the_probe_leaves_every_state_as_it_was(mmdet_scope):
    model = MODELS.build(distill_cfg('mask_rcnn', 'faster_rcnn')).eval()
    inputs, samples = _normalised(model)
    state = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    model.probe_features(inputs, samples)
    assert not any(m.training for m in model.modules()), 'eval mode restored'
    assert torch.equal(torch.get_rng_state(), rng)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), f'{key} changed'
    model.train()
    modes = [m.training for m in model.modules()]  # mmdet's ResNet keeps its BN in eval
    model.probe_features(inputs, samples)
    assert [m.training for m in model.modules()] == modes
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), f'{key} changed in train mode'


def test_probe_failures_name_the_network_and_the_recorder(mmdet_scope):
    cfg = distill_cfg('retinanet', 'faster_rcnn',
                      teacher_recorders=['roi_head.bbox_head.loss_cls'])  # a teacher never
    with pytest.raises(RuntimeError, match=r'the teacher failed the probe.*'  # runs its losses
                       r'roi_head\.bbox_head\.loss_cls.*ran 0 time'):
        MODELS.build(cfg)
    cfg = distill_cfg('retinanet', 'faster_rcnn')
    cfg['distiller']['student_recorders'] = ['nek']
    with pytest.raises(LookupError, match=r'No module named "nek" in the student \(RetinaNet\)'
                       r'.*Close matches: \[\'neck\''):
        MODELS.build(cfg)


@pytest.mark.parametrize('kind, masks', [('mask_rcnn', True), ('retinanet', False)])
def test_probe_samples_carry_masks_only_for_a_mask_branch(kind, masks, mmdet_scope):
    # a box detector's pipeline loads no masks, and some box losses fail on them (RTMDet's)
    sample = synthetic_samples(MODELS.build(tiny_detector(kind)), 1, (32, 32))[0]
    assert ('masks' in sample.gt_instances) == masks
