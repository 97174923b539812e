"""'auto' recorders: natural levels paired by equal stride, never by position."""
from pathlib import Path
from unittest import mock

import pytest
from mmengine.config import Config

from rkd.apis import build_distillation
from rkd.models.algorithms.stride_pairing import AUTO, pair_levels
from rkd.models.algorithms.synthetic_batch import synthetic_batch
from rkd.registry import MODELS

from helpers import reviewkd_algorithm, tiny_classifier
from tiny_detectors import tiny_detector

REPO = Path(__file__).parents[3]
LOG = 'rkd.models.algorithms.single_teacher_distill.print_log'
EMBEDDING = dict(source='neck', element=-1)  # the tiny classifier pools every stage


def classifier(base_channels: int, out_indices=(0, 1, 2, 3)):
    model = tiny_classifier(base_channels)
    model['backbone'] = dict(model['backbone'], out_indices=out_indices)
    return MODELS.build(model)


def test_levels_of_equal_stride_pair_where_the_counts_differ(mmpretrain_scope):
    # the student has stride 1, 2, 4 and 8 maps; the teacher only 2, 4 and 8: by position from
    # the deep end the counts would match too, but here the shallowest student level must go
    student, teacher = classifier(4), classifier(8, out_indices=(1, 2, 3))
    pairing = pair_levels(student, teacher, (3, 16, 16))
    assert [level.stride for level in pairing.student] == [2, 4, 8, None]
    assert [level.stride for level in pairing.teacher] == [2, 4, 8, None]
    assert [(level.as_recorder, level.channels) for level in pairing.dropped_student] == [
        (dict(source='backbone', element=0), 4)]
    assert pairing.student_recorders == [dict(source='backbone', element=i) for i in (1, 2, 3)] \
        + [dict(source='neck', element=-1)]
    assert pairing.teacher_recorders == ['backbone', dict(source='neck', element=-1)]
    assert 'dropped from the student' in pairing.table()[-1]


def test_a_listed_side_keeps_its_levels_and_the_auto_side_matches_them(mmpretrain_scope):
    student, teacher = classifier(4), classifier(8)
    pairing = pair_levels(student, teacher, (3, 16, 16),
                          student_recorders=[dict(source='backbone', element=2)])
    assert pairing.teacher_recorders == [dict(source='backbone', element=2)]
    assert not pairing.dropped_student and len(pairing.dropped_teacher) == 4
    with pytest.raises(ValueError, match=r"student recorders list .*'neck'.*pooled.*which no"):
        pair_levels(student, teacher, (3, 16, 16),
                    student_recorders=['backbone.layer1', EMBEDDING],
                    teacher_recorders=[dict(source='backbone', element=0)])


def test_no_common_stride_says_what_each_side_has(mmpretrain_scope):
    student, teacher = classifier(4), classifier(8)
    with pytest.raises(ValueError, match=r"student \['pooled'\], teacher \['1'\]"):
        pair_levels(student, teacher, (3, 16, 16), student_recorders=[EMBEDDING],
                    teacher_recorders=['backbone.layer1'])


def test_a_detector_pairs_its_fpn_levels_as_one_recorder(mmdet_scope):
    student = MODELS.build(tiny_detector('retinanet', width=8))
    teacher = MODELS.build(tiny_detector('mask_rcnn', width=16))
    pairing = pair_levels(student, teacher, (3, 64, 64))
    # RetinaNet's FPN starts at stride 8 (P3-P7), Mask R-CNN's at 4 (P2-P6)
    assert [level.stride for level in pairing.student] == [8, 16, 32, 64]
    assert pairing.teacher_recorders == [dict(source='neck', element=i) for i in (1, 2, 3, 4)]
    assert len(pairing.dropped_student) == 1 and len(pairing.dropped_teacher) == 1
    lines = pairing.config_lines()
    assert lines[:2] == ['student_recorders=[', "    dict(source='neck', element=0),  # 16 ch, "
                         'stride 8']


def test_the_algorithm_resolves_auto_and_logs_the_table(mmpretrain_scope):
    model_cfg = reviewkd_algorithm()
    model_cfg['distiller'].update(student_recorders=AUTO, teacher_recorders=AUTO)
    with mock.patch(LOG) as log:
        model = MODELS.build(model_cfg)
    assert model.distiller.student_recorders.sources == ['backbone', 'neck']
    assert len(model.distiller.connector.abfs) == 5
    out = '\n'.join(call.args[0] for call in log.call_args_list)
    assert "paired by stride ('auto', 16x16 probe input)" in out
    assert "    'backbone',  # 4 maps, strides 1, 2, 4, 8" in out


@pytest.mark.parametrize('config', ['imagenet/reviewkd_resnet34_resnet18_in1k.py',
                                    'coco/reviewkd_faster-rcnn_r101_r18_fpn_ms-180k_coco.py'])
def test_auto_reproduces_the_papers_pairing(config):
    cfg = Config.fromfile(REPO / 'configs' / config)
    cfg.model.teacher.checkpoint = None
    hand_written = build_distillation(cfg).distiller
    cfg.model.distiller.update(student_recorders=AUTO, teacher_recorders=AUTO)
    auto = build_distillation(cfg).distiller
    for network in ('student_recorders', 'teacher_recorders'):
        assert [repr(r) for r in getattr(auto, network).recorders] == [
            repr(r) for r in getattr(hand_written, network).recorders]
    assert [abf.conv1.conv.in_channels for abf in auto.connector.abfs] == [
        abf.conv1.conv.in_channels for abf in hand_written.connector.abfs]


def test_no_level_found_is_a_clear_error(mmpretrain_scope):
    # as for a network none of whose modules gives a stage, a neck level or tokens
    with mock.patch('rkd.models.algorithms.stride_pairing.explore', return_value=[]), \
            pytest.raises(ValueError, match=r"'auto' found no feature level in the student"):
        pair_levels(classifier(4), classifier(8), (3, 16, 16))


def test_auto_outside_the_algorithm_is_refused():
    with pytest.raises(ValueError, match='resolved by rkd.SingleTeacherDistill'):
        MODELS.build(dict(type='rkd.ReviewKDDistiller', student_recorders=AUTO,
                          teacher_recorders=AUTO))


def ddrnet(channels: int) -> dict:
    """mmseg's DDRNet, thin: its backbone adds the context branch's map only in training."""
    norm = dict(type='BN', requires_grad=True)
    loss = dict(type='CrossEntropyLoss')
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0.0] * 3, std=[1.0] * 3,
                               size=(64, 64)),
        backbone=dict(type='DDRNet', in_channels=3, channels=channels, ppm_channels=16,
                      norm_cfg=norm),
        decode_head=dict(type='DDRHead', in_channels=channels * 4, channels=16, num_classes=3,
                         norm_cfg=norm, loss_decode=[loss, dict(loss, loss_weight=0.4)]),
        train_cfg=dict(), test_cfg=dict(mode='whole'))


def test_the_teacher_is_probed_as_a_distillation_runs_it(mmseg_scope):
    # in training the teacher would give two maps, in eval mode (as it teaches) one: 'auto'
    # must pair what the teacher yields then
    cfg = dict(type='rkd.SingleTeacherDistill', student=ddrnet(8),
               teacher=dict(config=ddrnet(16), checkpoint=None),
               distiller=dict(type='rkd.ReviewKDDistiller', student_recorders=AUTO,
                              teacher_recorders=AUTO, loss=dict(type='rkd.HCLoss')),
               probe_input_shape=(3, 64, 64))
    model = MODELS.build(cfg)
    student_feats, teacher_feats = model.probe_features(*synthetic_batch(model.student, 2,
                                                                         (64, 64)))
    # the student's two backbone maps (training), two stride-8 stages of the teacher's
    assert model.distiller.student_recorders.sources == ['backbone']
    assert [f.shape[-2:] for f in student_feats] == [(8, 8)] * 2
    assert [f.shape[-2:] for f in teacher_feats] == [(8, 8)] * 2
    assert all(s.startswith('backbone.') for s in model.distiller.teacher_recorders.sources)
