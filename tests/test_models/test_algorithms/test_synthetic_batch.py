"""Synthetic batches carry what the stock pipelines give each task's heads."""
import torch
from mmengine.logging import MessageHub
from torch import nn

from rkd.models.algorithms.probe_state import first_step_runtime_info
from rkd.models.algorithms.synthetic_batch import (PROPOSALS_PER_IMAGE, detection_elements,
                                                   synthetic_batch)
from rkd.registry import MODELS

from tiny_detectors import tiny_detector
from tiny_segmentors import tiny_segmentor


def test_a_detector_without_rpn_gets_proposals_and_trains(mmdet_scope):
    # Fast R-CNN: its second stage reads the proposals LoadProposals loaded
    cfg = tiny_detector('faster_rcnn')
    cfg.pop('rpn_head')
    model = MODELS.build(dict(cfg, type='FastRCNN'))
    assert detection_elements(model) == dict(with_masks=False, with_proposals=True,
                                             with_semantic=False)
    inputs, samples = synthetic_batch(model, 2, (64, 64))
    assert [s.proposals.bboxes.shape for s in samples] == [(PROPOSALS_PER_IMAGE, 4)] * 2
    losses = model.loss(inputs, samples)
    assert torch.isfinite(sum(v for k, v in losses.items() if 'loss' in k and
                              isinstance(v, torch.Tensor)))


def test_detectors_with_an_rpn_or_none_get_no_proposals(mmdet_scope):
    for kind in ('faster_rcnn', 'retinanet'):
        model = MODELS.build(tiny_detector(kind))
        assert not detection_elements(model)['with_proposals']
        _, samples = synthetic_batch(model, 1, (32, 32))
        assert 'proposals' not in samples[0]


def test_a_semantic_head_gets_a_semantic_map(mmdet_scope):
    model = MODELS.build(tiny_detector('mask_rcnn'))
    model.roi_head.semantic_head = nn.Identity()  # as SCNet's and HTC's roi heads have one
    assert detection_elements(model)['with_semantic']
    _, samples = synthetic_batch(model, 1, (32, 32))
    assert samples[0].gt_sem_seg.sem_seg.shape == (1, 32, 32)
    assert samples[0].gt_instances.masks.masks.shape == (3, 32, 32)


def test_segmentation_samples_carry_the_edges_of_their_map(mmseg_scope):
    model = MODELS.build(tiny_segmentor(4))
    _, samples = synthetic_batch(model, 1, (16, 16))
    seg, edges = samples[0].gt_sem_seg.data, samples[0].gt_edge_map.data
    assert edges.shape == seg.shape and 0 < edges.sum() < edges.numel()
    # a pixel is an edge where it differs from the pixel above or to its left
    assert bool(edges[0, 1, 0]) == bool(seg[0, 1, 0] != seg[0, 0, 0])


def test_the_probe_says_epoch_and_iter_zero_and_takes_them_back():
    hub = MessageHub.get_current_instance()
    hub.runtime_info.pop('epoch', None)
    hub.update_info('iter', 7)  # a value the runner set stays
    with first_step_runtime_info():
        assert (hub.get_info('epoch'), hub.get_info('iter')) == (0, 7)
    assert (hub.get_info('epoch'), hub.get_info('iter')) == (None, 7)
    hub.runtime_info.pop('iter')
