"""A classifier's backbone teaches a detector and a segmentor: rkd.FeatureTeacher, given as a
backbone dict or as a classification config with ``headless=True``, loads a classification run's
checkpoint (its head left out) or a bare backbone state dict, and trains a step."""
import logging
import math
from unittest import mock

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope

from rkd.checkpoint import CheckpointLoadError
from rkd.models.algorithms.feature_teacher import FeatureTeacher
from rkd.models.algorithms.synthetic_batch import synthetic_samples
from rkd.registry import MODELS

from tiny_detectors import tiny_detector
from tiny_segmentors import tiny_segmentor

LOG = 'rkd.models.algorithms.feature_teacher.print_log'
# A ConvNeXt of one block a stage, 8 to 64 channels: strides 4, 8, 16, 32 and a pooled output.
TINY_CONVNEXT = dict(type='mmpretrain.ConvNeXt', arch=dict(depths=[1, 1, 1, 1],
                                                           channels=[8, 16, 32, 64]))
IMAGENET = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)


def classifier(backbone=TINY_CONVNEXT, num_classes: int = 5) -> dict:
    """An mmpretrain classification model of ``backbone``, as its training config has it."""
    return dict(type='mmpretrain.ImageClassifier', backbone=backbone,
                head=dict(type='mmpretrain.LinearClsHead', num_classes=num_classes,
                          in_channels=backbone['arch']['channels'][-1]),
                data_preprocessor=dict(IMAGENET, num_classes=num_classes))


def trained_classifier(path, backbone=TINY_CONVNEXT, num_classes: int = 5, bare: bool = False):
    """A classifier saved as a classification run saves it (``state_dict`` of ``backbone.*``
    and ``head.*``), or its backbone's bare state dict; the classifier is returned."""
    import mmpretrain.models  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(classifier(backbone, num_classes))
    for param in model.parameters():  # not the initial values: a load must be seen
        torch.nn.init.normal_(param)
    if bare:
        torch.save(model.backbone.state_dict(), path)
    else:
        torch.save(dict(meta=dict(epoch=300), state_dict=model.state_dict()), path)
    return model


def distill(student: dict, teacher: dict, recorders='auto') -> dict:
    return dict(type='rkd.SingleTeacherDistill', student=student, teacher=teacher,
                distiller=dict(type='rkd.ReviewKDDistiller', student_recorders=recorders,
                               teacher_recorders=recorders,
                               connector=dict(type='rkd.ABFConnector', mid_channels=16),
                               loss=dict(type='rkd.HCLoss')),
                probe_input_shape=(3, 64, 64))


def train_step(model, images: list) -> dict:
    model.train()
    samples = synthetic_samples(model.student, len(images), images[0].shape[-2:])
    return model.train_step(dict(inputs=images, data_samples=samples),
                            OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01)))


def images(n=2, size=64) -> list:
    return [torch.randint(0, 256, (3, size, size), dtype=torch.uint8) for _ in range(n)]


def assert_backbone_loaded(teacher: FeatureTeacher, classifier_model) -> None:
    for name, value in classifier_model.backbone.state_dict().items():
        torch.testing.assert_close(teacher.backbone.state_dict()[name], value, rtol=0, atol=0)


def test_classifier_backbone_teaches_a_detector(mmdet_scope, tmp_path):
    torch.manual_seed(0)
    trained = trained_classifier(tmp_path / 'cls.pth')
    teacher = dict(backbone=TINY_CONVNEXT, data_preprocessor=IMAGENET,
                   checkpoint=str(tmp_path / 'cls.pth'))
    with mock.patch(LOG) as log:
        model = MODELS.build(distill(tiny_detector('retinanet'), teacher))
    assert isinstance(model.teacher, FeatureTeacher) and not hasattr(model.teacher, 'head')
    model.init_weights()  # as the runner does: the teacher stays as loaded
    assert_backbone_loaded(model.teacher, trained)
    assert 'head.*' in log.call_args.args[0] and '2 entries' in log.call_args.args[0]
    # 'auto': the FPN's P3-P5 with the ConvNeXt stages of equal stride (8, 16, 32)
    assert model.distiller.teacher_recorders.sources == [f'backbone.stages.{i}' for i in (1, 2, 3)]
    assert list(model.distiller.connector.teacher_channels) == [16, 32, 64]
    # both normalise as ImageNet, in RGB: the teacher takes the student's batch as it is
    assert model.teacher_renormalizer is None
    log_vars = train_step(model, images())
    assert math.isfinite(log_vars['loss']) and log_vars['loss_reviewkd'] > 0
    assert_backbone_loaded(model.teacher, trained)  # frozen
    # the teacher is not saved with the run: its checkpoint restores it
    assert not any(key.startswith('teacher.') for key in model.state_dict())


def test_headless_classification_config_teaches_a_segmentor(mmseg_scope, tmp_path):
    torch.manual_seed(0)
    trained = trained_classifier(tmp_path / 'backbone.pth', bare=True)
    teacher = dict(config=classifier(), headless=True, checkpoint=str(tmp_path / 'backbone.pth'))
    model = MODELS.build(distill(tiny_segmentor(8), teacher))
    assert isinstance(model.teacher, FeatureTeacher)
    assert_backbone_loaded(model.teacher, trained)
    # the classifier's preprocessor came along (and agrees with mmseg's ImageNet one)
    assert type(model.teacher.data_preprocessor).__name__ == 'ClsDataPreprocessor'
    assert model.teacher_renormalizer is None
    log_vars = train_step(model, images(size=48))
    assert math.isfinite(log_vars['loss']) and log_vars['loss_reviewkd'] > 0


def test_headless_teacher_runs_only_its_backbone(mmseg_scope):
    model = MODELS.build(distill(tiny_segmentor(8), dict(config=classifier(), headless=True)))
    with mock.patch.object(FeatureTeacher, 'forward', side_effect=AssertionError):
        model.teacher_features(torch.randn(1, 3, 48, 48), None)  # extract_feat, not forward
    with pytest.raises(RuntimeError, match='no head'):
        model.teacher(torch.randn(1, 3, 32, 32), mode='predict')


def test_a_teacher_of_other_normalisation_is_renormalised(mmseg_scope):
    caffe = dict(mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0], to_rgb=False)
    model = MODELS.build(distill(tiny_segmentor(8), dict(backbone=TINY_CONVNEXT,
                                                         data_preprocessor=caffe)))
    assert model.teacher_renormalizer is not None and model.teacher_renormalizer.flip
    # without a data_preprocessor, the backbone was trained as the student normalises
    model = MODELS.build(distill(tiny_segmentor(8), dict(backbone=TINY_CONVNEXT)))
    assert model.teacher_renormalizer is None


def test_checkpoint_of_another_head_loads(mmseg_scope, tmp_path):
    trained = trained_classifier(tmp_path / 'cls.pth', num_classes=1000)
    model = MODELS.build(distill(tiny_segmentor(8), dict(
        config=classifier(num_classes=7), headless=True, checkpoint=str(tmp_path / 'cls.pth'))))
    assert_backbone_loaded(model.teacher, trained)


DEEPER = dict(TINY_CONVNEXT, arch=dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64]))


@pytest.mark.parametrize('saved, built, misfit', [
    (TINY_CONVNEXT, dict(TINY_CONVNEXT, arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 32, 32])),
     r'of another shape \(e\.g\. backbone\.'),
    (TINY_CONVNEXT, DEEPER, r'missing from the file \(e\.g\. backbone\.stages\.2\.1\.'),
    (DEEPER, TINY_CONVNEXT, r'unexpected in the file \(e\.g\. backbone\.stages\.2\.1\.'),
    # a norm layer per output: the classifier had the last stage's only
    (TINY_CONVNEXT, dict(TINY_CONVNEXT, out_indices=(0, 1, 2, 3)),
     r'missing from the file \(e\.g\. backbone\.norm0\.weight'),
])
def test_a_wrong_backbone_is_a_clear_error(mmseg_scope, tmp_path, saved, built, misfit):
    """The head's entries are left out; the backbone's must fit exactly."""
    trained_classifier(tmp_path / 'cls.pth', saved)
    teacher = dict(backbone=built, checkpoint=str(tmp_path / 'cls.pth'))
    with pytest.raises(CheckpointLoadError, match=f'teacher checkpoint .* {misfit}.* A '
                       'backbone teacher .* built as that run built it'):
        MODELS.build(distill(tiny_segmentor(8), teacher))


def test_a_checkpoint_of_no_backbone_is_a_clear_error(mmseg_scope, tmp_path):
    torch.save(dict(state_dict={'head.fc.weight': torch.zeros(5, 64)}), tmp_path / 'head.pth')
    teacher = dict(backbone=TINY_CONVNEXT, checkpoint=str(tmp_path / 'head.pth'))
    with pytest.raises(CheckpointLoadError, match='missing from the file .*unexpected in the '
                       r'file \(e\.g\. backbone\.head\.fc\.weight'):
        MODELS.build(distill(tiny_segmentor(8), teacher))


def test_a_backbone_and_neck_teacher_keeps_its_neck(mmdet_scope, tmp_path):
    """A detector's backbone and FPN teach: its neck's entries load, its heads' are left out."""
    detector = tiny_detector('retinanet')
    with DefaultScope.overwrite_default_scope('mmdet'):
        trained = MODELS.build(detector)
    torch.save(dict(state_dict=trained.state_dict()), tmp_path / 'det.pth')
    teacher = dict(backbone=detector.backbone, neck=detector.neck,
                   checkpoint=str(tmp_path / 'det.pth'))
    with mock.patch(LOG) as log:
        model = MODELS.build(distill(tiny_detector('retinanet'), teacher))
    assert 'bbox_head.*' in log.call_args.args[0]
    for name, value in trained.neck.state_dict().items():
        torch.testing.assert_close(model.teacher.neck.state_dict()[name], value)
    assert model.distiller.teacher_recorders.sources == ['neck']  # its FPN levels, as a detector's


# A ViT of 4 layers, 32 channels wide: 4 x 4 patches of 16 px at 64 px, one class token.
TINY_VIT = dict(type='mmpretrain.VisionTransformer', img_size=64, patch_size=16,
                arch=dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64))


def test_vit_teacher_pairs_one_level_by_stride_and_says_how_to_pair_more(mmdet_scope):
    """A ViT's levels share its patch stride: 'auto' pairs one of them, with a warning; listed
    recorders pair its token maps with the student's FPN levels in order."""
    with mock.patch('rkd.models.algorithms.single_teacher_distill.print_log') as log:
        model = MODELS.build(distill(tiny_detector('retinanet'), dict(backbone=TINY_VIT)))
    assert model.distiller.teacher_recorders.sources == ['backbone.ln1']  # the deepest, s16
    assert model.distiller.student_recorders.recorders[0].element == 1  # P4, stride 16
    warning = next(call for call in log.call_args_list if 'one level only' in call.args[0])
    assert warning.kwargs['level'] == logging.WARNING
    assert "dict(source='neck', element=1)" in warning.args[0] and "'backbone.ln1'" in \
        warning.args[0] and 'list the recorders of both networks' in warning.args[0]

    listed = distill(tiny_detector('retinanet'), dict(backbone=TINY_VIT), recorders=None)
    listed['distiller'].update(
        student_recorders=[dict(source='neck', element=i) for i in range(3)],
        teacher_recorders=['backbone.layers.1', 'backbone.layers.2', 'backbone.ln1'])
    model = MODELS.build(listed)
    _, teacher_feats = model.probe_features(torch.randn(2, 3, 64, 64))
    assert [tuple(f.shape) for f in teacher_feats] == [(2, 32, 4, 4)] * 3  # class token left out
    log_vars = train_step(model, images())
    assert math.isfinite(log_vars['loss']) and log_vars['loss_reviewkd'] > 0


def test_teacher_check_skips_a_teacher_without_a_head(mmseg_scope):
    """TeacherCheckHook scores a teacher's predictions: a backbone has none to score."""
    from types import SimpleNamespace

    from rkd.engine.hooks import TeacherCheckHook
    model = MODELS.build(distill(tiny_segmentor(8), dict(backbone=TINY_CONVNEXT)))
    runner = SimpleNamespace(model=model, logger=mock.Mock(),
                             val_loop=SimpleNamespace(evaluator=mock.Mock(), dataloader=[{}]))
    TeacherCheckHook().before_train(runner)
    assert 'a backbone without a head' in runner.logger.warning.call_args.args[0]
    runner.val_loop.evaluator.process.assert_not_called()
