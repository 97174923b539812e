"""explore and natural_levels on a model of each task: what ran, and the natural levels."""
import pytest
import torch
from mmengine.registry import DefaultScope

from rkd.models.algorithms.natural_levels import explore, natural_levels
from rkd.registry import MODELS

from helpers import tiny_classifier
from tiny_detectors import tiny_detector
from tiny_segmentors import tiny_segmentor


def build(model: dict, scope: str):
    import importlib
    importlib.import_module(f'{scope}.models')
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(model)


def test_a_classifier_gives_its_stages_and_pooled_embedding():
    model = build(tiny_classifier(base_channels=4), 'mmpretrain')
    state = {k: v.clone() for k, v in model.state_dict().items()}
    records = explore(model, (16, 16))
    by_name = {r.name: r for r in records}
    assert by_name['backbone.layer1.0.relu'].calls == 2  # BasicBlock: after conv1 and the add
    assert by_name['head.loss_module'].calls == 1  # the training path: the loss ran
    assert by_name['backbone.layer1.0.bn1'].activation == 'pre'
    assert by_name['backbone.layer1'].activation == 'post'
    levels = natural_levels(model, records)
    assert [level.recorder for level in levels] == [
        *(dict(source='backbone', element=i) for i in range(4)), dict(source='neck', element=-1)]
    assert [level.shape for level in levels][-1] == (2, 32)
    for key, value in model.state_dict().items():  # BN statistics untouched
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)


def test_single_output_backbones_give_their_child_stages():
    model = dict(tiny_classifier(base_channels=4))
    model['backbone'] = dict(model['backbone'], out_indices=(3, ))
    model = build(model, 'mmpretrain')
    levels = natural_levels(model, explore(model, (16, 16)))
    assert [level.recorder for level in levels] == [
        'backbone.layer1', 'backbone.layer2', 'backbone.layer3', 'backbone.layer4', 'neck']
    assert levels[0].pre_activation == dict(source='backbone.layer1.1.relu', io='input', call=-1)


@pytest.mark.parametrize('kind', ['mask_rcnn', 'retinanet'])
def test_a_detector_gives_its_fpn_levels(kind):
    model = build(tiny_detector(kind), 'mmdet')
    records = explore(model, (64, 64))
    levels = natural_levels(model, records)
    assert [level.recorder for level in levels] == [dict(source='neck', element=i)
                                                    for i in range(5)]
    assert [level.shape[-1] for level in levels] == [16, 8, 4, 2, 1] if kind == 'mask_rcnn' \
        else [8, 4, 2, 1, 1]
    assert any(r.name.startswith('roi_head.') for r in records) == (kind == 'mask_rcnn')


def test_a_segmentor_gives_its_dilated_stages_of_equal_size():
    model = build(tiny_segmentor(width=4), 'mmseg')
    records = explore(model, (32, 32))
    levels = natural_levels(model, records)
    assert [level.shape[1:] for level in levels] == [(4, 8, 8), (8, 4, 4), (16, 4, 4),
                                                     (32, 4, 4)]
    assert 'auxiliary_head.conv_seg' in {r.name for r in records}  # runs in training only


def test_a_vit_gives_evenly_spaced_token_blocks_and_its_class_token():
    vit = dict(type='ImageClassifier',
               data_preprocessor=dict(num_classes=4, mean=[127.5] * 3, std=[127.5] * 3),
               backbone=dict(type='VisionTransformer', img_size=32, patch_size=8,
                             arch=dict(embed_dims=32, num_layers=8, num_heads=2,
                                       feedforward_channels=64)),
               neck=None, head=dict(type='VisionTransformerClsHead', num_classes=4,
                                    in_channels=32))
    model = build(vit, 'mmpretrain')
    levels = natural_levels(model, explore(model, (32, 32)))
    assert [level.recorder for level in levels] == [
        'backbone.layers.1', 'backbone.layers.3', 'backbone.layers.5', 'backbone.ln1',
        dict(source='head.layers.head', io='input')]
    assert levels[0].shape == (2, 17, 32) and levels[-1].shape == (2, 32)


def test_a_tuple_with_other_things_than_tensors_is_recorded_by_element():
    """InceptionV3's backbone returns ``(None, x)`` outside training: the pooled level is the
    tensor's element, and recording it gives that tensor."""
    from rkd.models.recorders import RecorderGroup
    model = build(tiny_classifier(base_channels=4), 'mmpretrain')
    pooled = model.neck.forward
    model.neck.forward = lambda inputs: (None, *pooled(inputs))
    levels = natural_levels(model, explore(model, (16, 16)))
    assert levels[-1].recorder == dict(source='neck', element=-1)
    group = RecorderGroup([levels[-1].recorder], network='the student')
    group.bind(model)
    with torch.no_grad(), group.recording() as recorded:
        model.extract_feat(torch.randn(2, 3, 16, 16))
        feature, = recorded.features()
    assert feature.shape == (*levels[-1].shape, 1, 1)


def test_a_stage_output_overwritten_later_in_the_step_is_recorded_as_a_copy():
    """TNT adds into its blocks' outputs in place: a recorder of one would refuse the map it
    holds, so 'auto' records a copy of it."""
    from rkd.models.recorders import RecorderGroup
    model = dict(tiny_classifier(base_channels=4))
    model['backbone'] = dict(model['backbone'], out_indices=(3, ))
    model = build(model, 'mmpretrain')
    layer2 = model.backbone.layer2.forward
    model.backbone.layer2.forward = lambda x: layer2(x.mul_(1.0))  # overwrites layer1's output
    levels = natural_levels(model, explore(model, (16, 16)))
    assert [level.recorder for level in levels][:2] == [
        dict(source='backbone.layer1', clone=True), 'backbone.layer2']
    group = RecorderGroup([levels[0].recorder], network='the student')
    group.bind(model)
    with torch.no_grad(), group.recording() as recorded:
        model.extract_feat(torch.randn(2, 3, 16, 16))
        feature, = recorded.features()  # no "modified in place" error
    assert feature.shape == levels[0].shape
