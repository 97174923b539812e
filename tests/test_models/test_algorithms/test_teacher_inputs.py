"""The teacher sees its own normalisation: what its own preprocessor makes of the raw batch."""
import copy

import pytest
import torch
from mmengine.config import Config

from rkd.models.algorithms.teacher_inputs import TeacherRenormalizer, normalization_of
from rkd.registry import MODELS

from tiny_detectors import tiny_detector

PYTORCH = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
CAFFE = dict(mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False)
SIZES = ((50, 60), (64, 40))  # unequal images: the batch is padded


def raw_batch(sample_type, sizes=SIZES) -> dict:
    """uint8 images and samples carrying ``img_shape``, as the tasks' Pack transforms give."""
    images = [torch.randint(0, 256, (3, *size), dtype=torch.uint8) for size in sizes]
    samples = [sample_type(metainfo=dict(img_shape=size, ori_shape=size)) for size in sizes]
    return dict(inputs=images, data_samples=samples)


def preprocessors(task: str, **teacher_overrides):
    """(student, teacher, data sample type) of ``task``: pytorch-style student, caffe-style
    teacher, each padding as that task pads."""
    if task == 'mmdet':
        import mmdet.models  # noqa: F401
        from mmdet.structures import DetDataSample as Sample
        common = dict(type='mmdet.DetDataPreprocessor', pad_size_divisor=32)
    elif task == 'mmseg':
        import mmseg.models  # noqa: F401
        from mmseg.structures import SegDataSample as Sample
        common = dict(type='mmseg.SegDataPreProcessor', size=(64, 64), pad_val=0,
                      seg_pad_val=255)
    else:
        import mmpretrain.models  # noqa: F401
        from mmpretrain.structures import DataSample as Sample
        common = dict(type='mmpretrain.ClsDataPreprocessor', pad_size_divisor=16)
    flip_key = 'to_rgb' if task == 'mmpretrain' else 'bgr_to_rgb'
    student, teacher = (
        MODELS.build(dict(common, mean=style['mean'], std=style['std'],
                          **{flip_key: style['bgr_to_rgb']}, **overrides))
        for style, overrides in ((PYTORCH, {}), (CAFFE, teacher_overrides)))
    return student, teacher, Sample


@pytest.mark.parametrize('task', ['mmdet', 'mmseg', 'mmpretrain'])
@pytest.mark.parametrize('teacher_pad', [None, 5.0])
def test_renormalised_batch_is_the_teachers_own(task, teacher_pad):
    torch.manual_seed(0)
    pad = {} if teacher_pad is None else (
        dict(pad_val=teacher_pad) if task == 'mmseg' else dict(pad_value=teacher_pad))
    student_pp, teacher_pp, sample_type = preprocessors(task, **pad)
    data = raw_batch(sample_type)
    # mmseg pads images only in training mode, to its fixed size
    student = student_pp(copy.deepcopy(data), True)
    expected = teacher_pp(copy.deepcopy(data), True)['inputs']
    renormalizer = TeacherRenormalizer.between(student_pp, teacher_pp)
    assert renormalizer.flip
    assert student['inputs'].shape == expected.shape and expected.shape[-2] == 64
    got = renormalizer(student['inputs'], student['data_samples'])
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-5)
    assert not torch.allclose(student['inputs'], expected, atol=1)


def test_agreeing_preprocessors_need_no_renormalisation():
    student_pp, _, _ = preprocessors('mmdet')
    assert TeacherRenormalizer.between(student_pp, copy.deepcopy(student_pp)) is None
    assert normalization_of(student_pp).flips_channels


def teacher_inputs_of_a_step(model, data):
    """What the teacher's backbone receives in a distillation step on ``data``."""
    seen = []
    handle = model.teacher.backbone.register_forward_pre_hook(
        lambda module, args: seen.append(args[0]))
    try:
        model(**data, mode='loss')
    finally:
        handle.remove()
    return seen[0]


def test_a_caffe_style_teacher_config_gets_its_own_inputs(tmp_path, mmdet_scope):
    """mmdet's FCOS config normalises caffe-style (BGR, std 1); the RetinaNet student does
    not. The teacher, given as a config file, is fed what its own preprocessor makes."""
    teacher_file = tmp_path / 'fcos_teacher.py'
    Config(dict(default_scope='mmdet', model=tiny_detector('fcos', 16, 32))).dump(teacher_file)
    cfg = dict(
        type='rkd.SingleTeacherDistill', student=tiny_detector('retinanet'),
        teacher=dict(config=str(teacher_file), checkpoint=None),
        distiller=dict(type='rkd.ReviewKDDistiller', student_recorders=['neck'],
                       teacher_recorders=['neck'], loss=dict(type='rkd.HCLoss')))
    model = MODELS.build(cfg).train()
    from mmdet.structures import DetDataSample
    data = raw_batch(DetDataSample)
    for sample in data['data_samples']:  # ground truth for the student's loss
        sample.gt_instances = model_instances()
    batch = model.data_preprocessor(copy.deepcopy(data), True)
    expected = model.teacher.data_preprocessor(copy.deepcopy(data), True)['inputs']
    torch.testing.assert_close(teacher_inputs_of_a_step(model, batch), expected, atol=1e-3,
                               rtol=1e-5)

    # the same teacher as an inline model dict without a preprocessor shares the student's
    inline = tiny_detector('fcos', 16, 32)
    inline.pop('data_preprocessor')
    model = MODELS.build(dict(cfg, teacher=dict(config=inline, checkpoint=None))).train()
    assert model.teacher_renormalizer is None
    assert teacher_inputs_of_a_step(model, batch) is batch['inputs']


def model_instances():
    from mmengine.structures import InstanceData
    return InstanceData(bboxes=torch.tensor([[2., 3., 30., 40.]]), labels=torch.tensor([1]))
