"""ReviewKD's distiller: recorded features -> connector -> loss."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModule

from rkd.registry import MODELS
from ..recorders import ModuleRecorder, RecorderGroup
from .warmup import build_warmup

RecorderCfg = Union[str, dict, ModuleRecorder]


@MODELS.register_module()
class ReviewKDDistiller(BaseModule):
    """Owns the recorders of both networks, the connector and the distillation loss.

    The connector's channels are not configured: :meth:`build_connector` reads them from the
    features of a probe forward (the algorithm runs it at build time), so configs list module
    names only. Any registered connector taking ``student_channels`` and ``teacher_channels`` and
    any loss taking ``(aligned, teacher_feats)`` plug in by ``type``.

    Args:
        student_recorders: where to record the student, shallow -> deep.
        teacher_recorders: where to record the teacher, one feature per student feature.
        connector: config of the connector, without channels.
        loss: config of the loss.
        warmup: ``dict(length=..., by_epoch=...)`` for a linear warm-up of the loss, or None.
        loss_name: key of the distillation loss in the returned dict; it must contain ``loss``
            for mmengine to add it to the total.
    """

    def __init__(self,
                 student_recorders: Sequence[RecorderCfg],
                 teacher_recorders: Sequence[RecorderCfg],
                 connector: dict = dict(type='rkd.ABFConnector'),
                 loss: dict = dict(type='rkd.HCLoss'),
                 warmup: Optional[dict] = None,
                 loss_name: str = 'loss_reviewkd',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if 'loss' not in loss_name:
            raise ValueError(f'loss_name "{loss_name}" must contain "loss", or mmengine will log '
                             'it without training on it.')
        self.student_recorders = RecorderGroup(student_recorders, network='the student')
        self.teacher_recorders = RecorderGroup(teacher_recorders, network='the teacher')
        self.connector_cfg = dict(connector)
        self.connector: Optional[torch.nn.Module] = None
        self.loss = MODELS.build(loss)
        self.warmup = build_warmup(warmup)
        self.loss_name = loss_name

    def build_connector(self, student_feats: List[torch.Tensor],
                        teacher_feats: List[torch.Tensor]) -> None:
        """Build the connector for the channels of these (probe) features."""
        self._check_pairing(student_feats, teacher_feats)
        self.connector = MODELS.build(
            dict(self.connector_cfg,
                 student_channels=[f.shape[1] for f in student_feats],
                 teacher_channels=[f.shape[1] for f in teacher_feats]))

    def _check_pairing(self, student_feats: List[torch.Tensor],
                       teacher_feats: List[torch.Tensor]) -> None:
        if len(student_feats) != len(teacher_feats):
            raise ValueError(
                f'The student recorders yield {len(student_feats)} features '
                f'{[tuple(f.shape) for f in student_feats]} from {self.student_recorders.sources}, '
                f'the teacher recorders {len(teacher_feats)} '
                f'{[tuple(f.shape) for f in teacher_feats]} from {self.teacher_recorders.sources}. '
                'ReviewKD pairs them one to one: record as many levels in both.')

    def forward(self, student_feats: List[torch.Tensor],
                teacher_feats: List[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The distillation loss (and the warm-up factor, logged) for one step's features."""
        if self.connector is None:
            raise RuntimeError('build_connector() must run before the first step; '
                               'SingleTeacherDistill does it when it is built.')
        self._check_pairing(student_feats, teacher_feats)
        aligned = self.connector(student_feats, [t.shape[-2:] for t in teacher_feats])
        loss = self.loss(aligned, teacher_feats)
        if self.warmup is None:
            return {self.loss_name: loss}
        factor = self.warmup.factor()
        return {self.loss_name: loss * factor, 'reviewkd_warmup': loss.new_tensor(factor)}
