"""The teacher dict names its network once, by config or by backbone, with clear errors."""
import pytest

from rkd.models.algorithms.teacher_model import build_teacher_model, has_own_preprocessor
from rkd.registry import MODELS

from tiny_segmentors import tiny_segmentor

BACKBONE = dict(type='mmpretrain.ConvNeXt', arch=dict(depths=[1, 1, 1, 1],
                                                      channels=[8, 16, 32, 64]))


@pytest.mark.parametrize('teacher, message', [
    (dict(config=tiny_segmentor(8), backbone=BACKBONE), 'names its network twice'),
    (dict(headless=True, backbone=BACKBONE), 'names its network twice'),
    (dict(checkpoint=None), 'needs a `config`'),
    (dict(config=tiny_segmentor(8), neck=dict(type='FPN')), 'go with a teacher given by its'),
    (dict(config=dict(type='EncoderDecoder'), headless=True), 'has no `backbone`'),
])
def test_the_network_is_named_once(mmseg_scope, teacher, message):
    with pytest.raises((ValueError, KeyError), match=message):
        build_teacher_model(teacher)


def test_an_unknown_key_names_the_accepted_ones(mmseg_scope):
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['head'\] .* takes config, "):
        MODELS.build(dict(type='rkd.SingleTeacherDistill', student=tiny_segmentor(8),
                          teacher=dict(backbone=BACKBONE, head=dict()), distiller=dict()))


def test_headless_keeps_the_backbone_neck_and_preprocessor(mmseg_scope):
    segmentor = tiny_segmentor(8)
    teacher = build_teacher_model(dict(config=segmentor, headless=True,
                                       overrides=dict(backbone=dict(depth=34))))
    assert type(teacher).__name__ == 'FeatureTeacher' and teacher.neck is None
    assert len(teacher.backbone.layer1) == 3, 'overrides merged before the head is left out'
    assert type(teacher.data_preprocessor).__name__ == 'SegDataPreProcessor'


def test_own_preprocessor():
    assert has_own_preprocessor(dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py'))
    assert has_own_preprocessor(dict(config=dict(data_preprocessor=dict())))
    assert not has_own_preprocessor(dict(config=dict(type='ImageClassifier')))
    assert has_own_preprocessor(dict(backbone=BACKBONE, data_preprocessor=dict()))
    assert not has_own_preprocessor(dict(backbone=BACKBONE))
