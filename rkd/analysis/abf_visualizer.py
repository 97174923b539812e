"""What a trained ABF chain does to one image, level by level, as pictures.

For each level: the two attention maps of its ABF (the weight of the student's own map and of
the deeper level's residual; the deepest level has none), the energy (channel mean of squares)
of the student feature, of the connector's output and of the teacher feature it is pulled onto.
"""
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from torch import Tensor

from rkd.models.connectors.abf import review

# Transforms of a test pipeline that read ground truth, which a lone image does not have.
ANNOTATION_TRANSFORMS = ('LoadAnnotations', )


@dataclass
class LevelMaps:
    """The (H, W) maps of one level, for the first image of a batch."""

    attention: Optional[np.ndarray]  # (2, H, W): weight of the student map, of the residual
    student: np.ndarray
    output: np.ndarray
    teacher: np.ndarray


def energy(feature: Tensor) -> np.ndarray:
    """Channel mean of squares of the first image's ``(C, H, W)`` map."""
    return feature[0].float().pow(2).mean(0).cpu().numpy()


def image_batch(cfg: Config, model: torch.nn.Module, image: str) -> Tensor:
    """``image`` as the config's test pipeline and the model's preprocessor make it.

    A pipeline that does not load files itself (CIFAR's, whose images come from arrays) gets
    the image read and resized to the model's ``probe_input_shape``.
    """
    import mmcv
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', [])
    pipeline = [t for t in pipeline if not str(t.get('type', '')).endswith(ANNOTATION_TRANSFORMS)]
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        transforms = Compose(pipeline)
    if pipeline and 'Load' in str(pipeline[0].get('type', '')):
        data = dict(img_path=image)
    else:
        height, width = cfg.model.get('probe_input_shape', (3, 224, 224))[1:]
        img = mmcv.imresize(mmcv.imread(image), (width, height))
        data = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
    batch = model.data_preprocessor(pseudo_collate([transforms(data)]), False)
    return batch['inputs']


def abf_maps(model: torch.nn.Module, inputs: Tensor) -> List[LevelMaps]:
    """The maps of every level of ``model`` (a ``SingleTeacherDistill`` with an ABF connector)
    on ``inputs``, shallow -> deep, computed by the reference form of the connector (its
    ``impl`` aside): the attention is read by a forward hook on each ABF's ``att``, which the
    fast form does not call; both compute the same function."""
    student_feats, teacher_feats = model.probe_features(inputs)
    connector = model.distiller.connector
    print_log('The ABF maps come from the connector\'s reference form (a forward hook reads '
              'the attention, and the fast form does not run the att conv as a module); it '
              'computes the function the fast form trains.', logger='current')
    attentions: List[Optional[Tensor]] = [None] * len(connector.abfs)
    handles = [abf.att.register_forward_hook(
        lambda _m, _i, out, level=i: attentions.__setitem__(level, torch.sigmoid(out[0])))
        for i, abf in enumerate(connector.abfs) if abf.att is not None]
    try:
        with torch.no_grad():
            outputs = review(connector.abfs, list(student_feats),
                             [tuple(t.shape[-2:]) for t in teacher_feats])
    finally:
        for handle in handles:
            handle.remove()
    return [LevelMaps(None if att is None else att.cpu().numpy(), energy(s), energy(o),
                      energy(t))
            for att, s, o, t in zip(attentions, student_feats, outputs, teacher_feats)]


def save_level_figure(maps: LevelMaps, level: int, out_file: str) -> None:
    """One PNG: the panels of :class:`LevelMaps` side by side, each with its colour bar."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    panels = [('student energy', maps.student), ('ABF output energy', maps.output),
              ('teacher energy', maps.teacher)]
    if maps.attention is not None:
        panels = [('attention: student map', maps.attention[0]),
                  ('attention: deeper residual', maps.attention[1]), *panels]
    figure, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4))
    for axis, (title, image) in zip(np.atleast_1d(axes), panels):
        shown = axis.imshow(image, cmap='viridis', interpolation='nearest')
        axis.set_title(title, fontsize=9)
        axis.axis('off')
        figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.04)
    figure.suptitle(f'level {level}: {maps.student.shape[0]}x{maps.student.shape[1]} student, '
                    f'{maps.teacher.shape[0]}x{maps.teacher.shape[1]} teacher', fontsize=10)
    figure.tight_layout()
    figure.savefig(out_file, dpi=100)
    plt.close(figure)
