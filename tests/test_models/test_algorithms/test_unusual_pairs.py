"""Teachers and batches that a distillation meets in practice: a detector teaching a classifier,
a grayscale teacher for an RGB student, heads of other class counts under logit KD, and a
training batch of one image."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from rkd.registry import MODELS

from helpers import reviewkd_algorithm, tiny_classifier
from tiny_detectors import tiny_detector


def build(cfg: dict):
    import mmpretrain.models  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


def loss_step(model, batch_size: int = 2) -> dict:
    """The losses of one training step on random digits-sized images."""
    from mmpretrain.structures import DataSample
    data = model.data_preprocessor(
        dict(inputs=list(torch.rand(batch_size, 3, 16, 16) * 255),
             data_samples=[DataSample().set_gt_label(i % 4) for i in range(batch_size)]), True)
    model.train()
    return model(**data, mode='loss')


@pytest.fixture
def detector_config(tmp_path):
    """A RetinaNet's training config, as a teacher is usually given: it builds in mmdet's scope."""
    import mmdet.models  # noqa: F401
    path = tmp_path / 'retinanet.py'
    Config(dict(default_scope='mmdet', model=tiny_detector('retinanet', width=8))).dump(str(path))
    return str(path)


@pytest.mark.parametrize('recorders', [
    dict(student_recorders='auto', teacher_recorders='auto'),
    # its backbone's stages, and the classification scores of its head at the coarsest level
    dict(student_recorders=['backbone.layer1', 'backbone.layer2', 'backbone.layer3', 'head.fc'],
         teacher_recorders=['backbone.layer1', 'backbone.layer2', 'backbone.layer3',
                            dict(source='bbox_head.retina_cls', call=-1)])])
def test_a_detector_teaches_a_classifier(detector_config, recorders):
    cfg = reviewkd_algorithm()
    cfg['teacher']['config'] = detector_config
    cfg['distiller'].update(recorders)
    model = build(cfg)
    assert type(model.teacher).__name__ == 'RetinaNet'
    losses = loss_step(model)
    assert torch.isfinite(losses['loss_reviewkd']) and losses['loss_reviewkd'] > 0
    losses['loss_reviewkd'].backward()
    assert model.student.backbone.conv1.weight.grad.abs().sum() > 0


def test_a_grayscale_teacher_for_an_rgb_student_is_refused_at_build():
    cfg = reviewkd_algorithm()
    cfg['teacher']['config'] = tiny_classifier(base_channels=8)
    cfg['teacher']['config']['backbone']['in_channels'] = 1
    cfg['teacher']['config']['data_preprocessor'].update(mean=[127.5], std=[127.5])
    with pytest.raises(RuntimeError, match=r'Building the distillation, the teacher failed the '
                       r'probe .* synthetic \(3, 16, 16\) images .* expected input\[2, 3, 16, 16\] '
                       'to have 1 channels, but got 3 channels'):
        build(cfg)


def test_heads_of_other_class_counts_under_logit_kd_are_refused_at_build():
    cfg = reviewkd_algorithm(
        extra_losses=dict(loss_kd=dict(type='rkd.KDLoss', student='head.fc', teacher='head.fc')))
    cfg['teacher']['config'] = tiny_classifier(base_channels=8, num_classes=6)
    with pytest.raises(ValueError, match=r"extra_losses\['loss_kd'\] cannot compare the outputs "
                       r'it reads: KDLoss: student logits of shape \(2, 4\) vs teacher logits of '
                       r'shape \(2, 6\). .* same classes: give them the same num_classes'):
        build(cfg)


def test_a_training_batch_of_one_image_says_what_to_set():
    model = build(reviewkd_algorithm())
    with pytest.raises(ValueError, match=r'A training batch of 1 image reached BatchNorm in '
                       r'training mode \(Expected more than 1 value per channel when training, '
                       r'got input size .*\), .* set drop_last=True in train_dataloader'):
        loss_step(model, batch_size=1)
    assert torch.isfinite(loss_step(model, batch_size=2)['loss_reviewkd'])
    model.eval()  # BatchNorm with its running statistics takes one image
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 16, 16), mode='tensor').shape == (1, 4)
