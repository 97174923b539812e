"""Random batches shaped as a task model's data preprocessor hands them to the model.

The build-time probe and the benchmark run a training step (``model.loss``) without a dataset:
they need normalised images and data samples of the model's own task, with ground truth the
task's losses accept (labels, boxes and masks, segmentation maps).
"""
import functools
import importlib
import sys
from typing import Dict, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .feature_teacher import FeatureTeacher

# (package, module, base class) of the task models rkd knows how to feed, checked in order.
TASK_MODELS = (('mmdet', 'mmdet.models.detectors', 'BaseDetector'),
               ('mmseg', 'mmseg.models.segmentors', 'BaseSegmentor'),
               ('mmpretrain', 'mmpretrain.models.classifiers', 'BaseClassifier'))
# Ground-truth objects per image of a detection batch, and precomputed proposals per image
# (for a detector without an RPN).
BOXES_PER_IMAGE = 3
PROPOSALS_PER_IMAGE = 16


def task_of(model: nn.Module) -> str:
    """``'mmdet'``, ``'mmseg'`` or ``'mmpretrain'``: the package whose base model ``model`` is;
    ``'features'`` for an :class:`rkd.FeatureTeacher` (a backbone of any task, fed images only).

    A package that was never imported cannot have built the model, so none is imported here.
    """
    if isinstance(model, FeatureTeacher):
        return 'features'
    for package, module, base in TASK_MODELS:
        if package in sys.modules and isinstance(
                model, getattr(importlib.import_module(module), base)):
            return package
    raise TypeError(f'{type(model).__name__} is neither an mmdet detector, an mmseg segmentor '
                    'nor an mmpretrain classifier: rkd cannot make data samples for it.')


def label_bound(model: nn.Module) -> int:
    """Labels below this are valid for every head of ``model``: the smallest ``num_classes``
    among its modules (1 for a detector's RPN, whose labels are ignored)."""
    bounds = [m.num_classes for m in model.modules()
              if isinstance(getattr(m, 'num_classes', None), int) and m.num_classes > 0]
    return min(bounds, default=1)


def input_channels(model: nn.Module, default: int = 3) -> int:
    """The image channels ``model`` takes: as many as its data preprocessor normalises; with
    one mean for all, those of its first convolution (1 for LeNet on MNIST); ``default`` when
    it normalises nothing (a YOLOX's first convolution takes its Focus stem's 12 channels)."""
    mean = getattr(getattr(model, 'data_preprocessor', None), 'mean', None)
    if mean is None or mean.numel() > 1:
        return default if mean is None else mean.numel()
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return default if first_conv is None else first_conv.in_channels


def synthetic_batch(model: nn.Module, batch_size: int, size: Sequence[int], channels: int = 3,
                    device: str = 'cpu', seed: int = 0) -> Tuple[torch.Tensor, list]:
    """``(inputs, data_samples)`` for ``model.loss``: standard-normal ``(N, C, H, W)`` images
    (already normalised and unpadded) and the :func:`synthetic_samples` of their size, from a
    generator of their own so that the global random state is untouched."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch_size, channels, *size, generator=generator)
    samples = synthetic_samples(model, batch_size, size, seed + 1)
    return inputs.to(device), [sample.to(device) for sample in samples]


def synthetic_samples(model: nn.Module, batch_size: int, size: Sequence[int],
                      seed: int = 0) -> list:
    """Data samples of the task of ``model`` for unpadded ``size`` images (``img_shape``,
    ``pad_shape`` and ``batch_input_shape`` all equal ``size``) with random ground truth:
    ``BOXES_PER_IMAGE`` boxes with labels per image for a detector, with what its stock
    pipeline adds for its heads (:func:`detection_elements`); a ``gt_sem_seg`` map (and a
    ``gt_edge_map``) for a segmentor; a ``gt_label`` for a classifier."""
    task = task_of(model)
    make = dict(mmdet=_detection_sample, mmseg=_segmentation_sample,
                mmpretrain=_classification_sample, features=_image_sample)[task]
    if task == 'mmdet':
        make = functools.partial(_detection_sample, **detection_elements(model))
    generator = torch.Generator().manual_seed(seed)
    bound = label_bound(model)
    size = tuple(int(s) for s in size)
    return [make(size, bound, generator) for _ in range(batch_size)]


def detection_elements(model: nn.Module) -> Dict[str, bool]:
    """Which optional elements a detector's data samples carry, as its stock pipeline loads
    them: masks for a mask branch, precomputed ``proposals`` for a two-stage detector without
    an RPN (Fast R-CNN's ``LoadProposals``), a ``gt_sem_seg`` map for a semantic head (Panoptic
    FPN's, SCNet's and HTC's ``LoadPanopticAnnotations`` / ``with_seg``)."""
    return dict(with_masks=has_mask_branch(model),
                with_proposals=getattr(model, 'with_rpn', True) is False,
                with_semantic=any(name.rsplit('.', 1)[-1] == 'semantic_head'
                                  for name, _ in model.named_modules()))


def has_mask_branch(model: nn.Module) -> bool:
    """Whether a detector predicts masks (a ``mask_head``, a ``loss_mask``, a ``mask_embed``...):
    its data have masks then. A box detector's pipeline loads none, and some box losses read
    masks when they are there (RTMDet's assigner takes their centres of mass as tensors)."""
    return any('mask' in name.lower() for name, _ in model.named_modules())


def _meta(size: Tuple[int, int]) -> dict:
    return dict(img_shape=size, ori_shape=size, pad_shape=size, batch_input_shape=size,
                scale_factor=(1.0, 1.0), flip=False)


def _random_boxes(size: Tuple[int, int], generator: torch.Generator,
                  count: int = BOXES_PER_IMAGE) -> torch.Tensor:
    """(x1, y1, x2, y2) boxes of an eighth to a half of the image side, inside the image."""
    height, width = size
    scale = torch.tensor([width, height], dtype=torch.float32)
    corner = torch.rand(count, 2, generator=generator) * 0.5 * scale
    extent = (0.125 + 0.375 * torch.rand(count, 2, generator=generator)) * scale
    return torch.cat([corner, torch.minimum(corner + extent, scale)], dim=1)


def _detection_sample(size: Tuple[int, int], bound: int, generator: torch.Generator,
                      with_masks: bool = True, with_proposals: bool = False,
                      with_semantic: bool = False):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData, PixelData
    boxes = _random_boxes(size, generator)
    masks = np.zeros((BOXES_PER_IMAGE, *size), dtype=np.uint8)
    for mask, (x1, y1, x2, y2) in zip(masks, boxes.long().tolist()):
        mask[y1:y2 + 1, x1:x2 + 1] = 1
    instances = InstanceData(
        bboxes=boxes,  # a tensor, as mmdet's preprocessor leaves them (boxtype2tensor)
        labels=torch.randint(bound, (BOXES_PER_IMAGE, ), generator=generator))
    if with_masks:
        instances.masks = BitmapMasks(masks, *size)
    # as mmdet's PackDetInputs packs them: the crowd boxes apart (CrowdDet's sampler reads
    # them), and where the image lies in its canvas (CenterNet's predict reads it)
    ignored = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    metainfo = dict(_meta(size), border=(0, size[0], 0, size[1]))
    sample = DetDataSample(metainfo=metainfo, gt_instances=instances, ignored_instances=ignored)
    if with_proposals:  # as PackDetInputs packs what LoadProposals loaded
        sample.proposals = InstanceData(
            bboxes=_random_boxes(size, generator, PROPOSALS_PER_IMAGE),
            scores=torch.rand(PROPOSALS_PER_IMAGE, generator=generator))
    if with_semantic:  # as PackDetInputs packs a gt_seg_map
        sample.gt_sem_seg = PixelData(sem_seg=torch.randint(bound, (1, *size),
                                                            generator=generator))
    return sample


def _segmentation_sample(size: Tuple[int, int], bound: int, generator: torch.Generator):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    seg_map = torch.randint(bound, (1, *size), generator=generator)
    # the edges of the map, as PIDNet's pipeline adds them (GenerateEdge); other heads ignore it
    edges = torch.zeros_like(seg_map)
    edges[..., 1:, :] |= seg_map[..., 1:, :] != seg_map[..., :-1, :]
    edges[..., :, 1:] |= seg_map[..., :, 1:] != seg_map[..., :, :-1]
    return SegDataSample(metainfo=_meta(size), gt_sem_seg=PixelData(data=seg_map),
                         gt_edge_map=PixelData(data=edges))


def _image_sample(size: Tuple[int, int], bound: int, generator: torch.Generator):
    from mmengine.structures import BaseDataElement
    return BaseDataElement(metainfo=_meta(size))


def _classification_sample(size: Tuple[int, int], bound: int, generator: torch.Generator):
    from mmpretrain.structures import DataSample
    label = int(torch.randint(bound, (1, ), generator=generator))
    return DataSample(metainfo=_meta(size)).set_gt_label(label)
