"""A teacher that is only a backbone (and optionally a neck): a network of another task.

ReviewKD reads a teacher's features, never its predictions, so a teacher needs no head: an
ImageNet classifier's backbone can teach a detector or a segmentor. A distillation config names
such a teacher by its backbone (``teacher=dict(backbone=..., checkpoint=...)``) or by the config
of the run that trained it (``teacher=dict(config=..., headless=True, checkpoint=...)``); both
build a :class:`FeatureTeacher`, whose checkpoint may be that run's (``backbone.*`` entries, its
head's left out) or a bare backbone state dict.
"""
import copy
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmengine.model import BaseModel

from rkd.registry import MODELS

# A preprocessor dict without a type is a classification config's (mmpretrain's configs give
# none: their classifier defaults it), the usual home of a headless teacher.
DEFAULT_PREPROCESSOR = 'mmpretrain.ClsDataPreprocessor'


@MODELS.register_module()
class FeatureTeacher(BaseModel):
    """A backbone, optionally followed by a neck, run as a frozen teacher's feature extractor.

    It has what rkd's algorithm needs of a teacher and nothing else: ``extract_feat`` (where
    the teacher stops), the modules ``backbone`` and ``neck`` that recorders name as in the
    task model it came from, and a data preprocessor that says how its inputs were normalised.

    Args:
        backbone: the backbone's config, e.g. ``dict(type='mmpretrain.ConvNeXt', arch='tiny')``.
        neck: an optional neck's config (an FPN taken along with a detector's backbone).
        data_preprocessor: how the teacher's training normalised its images
            (``mean``, ``std``, ``to_rgb``); without a ``type`` it is mmpretrain's
            ``ClsDataPreprocessor``, as in a classification config.
        init_cfg: as any ``BaseModel``'s.
    """

    # How a checkpoint that does not fit is usually fixed, for the load error.
    CHECKPOINT_HINT = (
        'A backbone teacher takes the backbone.* entries of a run\'s checkpoint (its head\'s '
        'left out), or a bare backbone state dict, into a backbone built as that run built it: '
        'the same arch or depth, and mmpretrain\'s out_indices as it was (a norm layer is made '
        'for each output index, and a classification run has only its last stage\'s).')

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(data_preprocessor, dict):
            data_preprocessor = dict(data_preprocessor)
            data_preprocessor.setdefault('type', DEFAULT_PREPROCESSOR)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None

    @property
    def with_neck(self) -> bool:
        return self.neck is not None

    def extract_feat(self, inputs: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor]]:
        """The backbone's output, through the neck if there is one."""
        features = self.backbone(inputs)
        return self.neck(features) if self.with_neck else features

    def loss(self, inputs: torch.Tensor, data_samples: Optional[list] = None) -> dict:
        """A teacher's training step runs its features and has no loss of its own: rkd's probes
        run a step of each network to find and measure its levels."""
        self.extract_feat(inputs)
        return {}

    def forward(self, inputs: torch.Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        if mode == 'tensor':
            return self.extract_feat(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        raise RuntimeError(f'A FeatureTeacher has no head: it computes features '
                           f'(mode="tensor"), it cannot run mode="{mode}".')

    def checkpoint_entries(self, state_dict: Dict[str, torch.Tensor]
                           ) -> Dict[str, torch.Tensor]:
        """The entries of a checkpoint's ``state_dict`` that are this teacher's.

        A task model's checkpoint (a classification run's: ``backbone.*`` and ``head.*``) gives
        its ``backbone.*`` (and ``neck.*`` when the teacher has a neck); its other entries are
        left out, with a log line. A bare backbone state dict (no ``backbone.`` key) is the
        backbone's. What remains must fit the teacher exactly, as any teacher checkpoint.
        """
        if not any(key.startswith('backbone.') for key in state_dict):
            return {f'backbone.{key}': value for key, value in state_dict.items()}
        own = ('backbone.', 'neck.') if self.with_neck else ('backbone.', )
        kept = {key: value for key, value in state_dict.items() if key.startswith(own)}
        left_out = sorted({key.split('.')[0] for key in state_dict if key not in kept})
        if left_out:
            print_log(f'The teacher is a {" and a ".join(p[:-1] for p in own)} only: the '
                      f'checkpoint\'s {len(state_dict) - len(kept)} entries of '
                      f'{", ".join(f"{p}.*" for p in left_out)} are not loaded.',
                      logger='current')
        return kept


def feature_teacher_config(model: dict) -> ConfigDict:
    """The :class:`FeatureTeacher` of a task model's config: its backbone, its neck (if it has
    one) and its data preprocessor; its head and training settings left out."""
    if 'backbone' not in model:
        raise KeyError(f'headless=True keeps the teacher\'s backbone, but its model '
                       f'({model.get("type")}) has no `backbone`.')
    teacher = ConfigDict(type='rkd.FeatureTeacher')
    for key in ('backbone', 'neck', 'data_preprocessor'):
        if model.get(key) is not None:
            teacher[key] = copy.deepcopy(model[key])
    return teacher
