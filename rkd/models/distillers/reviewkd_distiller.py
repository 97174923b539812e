"""ReviewKD's distiller: recorded features -> connector -> loss, plus optional named losses."""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.logging import print_log
from torch import Tensor

from rkd.registry import MODELS

from ..recorders import RecordedFeatures, RecorderCfg, RecorderGroup
from .base_distiller import BaseDistiller, check_recorder_pairs
from .warmup import build_warmup


@MODELS.register_module()
class ReviewKDDistiller(BaseDistiller):
    """The student's levels through a connector (the ABF chain) onto the teacher's, with a loss
    (HCL) level by level; optionally more named losses, each on one recorded output of each
    network (for example logit KD on the heads' outputs), which reads the recorders it names.

    The connector's channels are not configured: :meth:`prepare` reads them from the features of
    the algorithm's probe step, so configs list module names only. Any registered connector (see
    ``BaseConnector``) and any loss taking ``(student_levels, teacher_levels)`` and summing over
    them plug in by ``type``; the loss is called per level, so that each level's share is logged.

    Args:
        student_recorders: the student's levels, shallow -> deep; ``'auto'`` lets
            ``rkd.SingleTeacherDistill`` pick its natural levels and pair them by stride
            with the teacher's (``stride_pairing.py``).
        teacher_recorders: the teacher's levels, one per student level; or ``'auto'``.
        connector: config of the connector, without channels.
        loss: config of the loss between connector outputs and teacher levels.
        warmup: ``dict(length=..., by_epoch=...)``: a linear warm-up of every distillation loss.
        loss_name: key of the ReviewKD loss in the returned dict; it must contain ``loss`` for
            mmengine to train on it.
        extra_losses: ``{name: dict(type=..., student=<recorder>, teacher=<recorder>, ...)}``:
            the loss ``type`` built with the other keys, called on the student's and the
            teacher's recorded outputs, e.g. ``loss_kd=dict(type='rkd.KDLoss',
            temperature=4.0, student='head.fc', teacher='head.fc')``.
    """

    def __init__(self,
                 student_recorders: Sequence[RecorderCfg],
                 teacher_recorders: Sequence[RecorderCfg],
                 connector: dict = dict(type='rkd.ABFConnector'),
                 loss: dict = dict(type='rkd.HCLoss'),
                 warmup: Optional[dict] = None,
                 loss_name: str = 'loss_reviewkd',
                 extra_losses: Optional[Dict[str, dict]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        extra_losses = {name: dict(cfg) for name, cfg in (extra_losses or {}).items()}
        for name in (loss_name, *extra_losses):
            _check_loss_name(name)
        check_recorder_pairs(extra_losses, 'extra_losses')
        recorders = {name: dict(student=cfg.pop('student'), teacher=cfg.pop('teacher'))
                     for name, cfg in extra_losses.items()}
        super().__init__(student_recorders, teacher_recorders, init_cfg, recorders)
        self.connector_cfg = dict(connector)
        self.connector: Optional[torch.nn.Module] = None
        self.loss = MODELS.build(loss)
        self.extra_losses = torch.nn.ModuleDict(
            {name: MODELS.build(cfg) for name, cfg in extra_losses.items()})
        self.warmup = build_warmup(warmup)
        self.loss_name = loss_name

    def prepare(self, student_feats: RecordedFeatures, teacher_feats: RecordedFeatures) -> None:
        """Build the connector for the channels of the probe step's levels."""
        for feats, group in ((student_feats, self.student_recorders),
                             (teacher_feats, self.teacher_recorders)):
            self._check_one_map_per_loss(feats, group)
        self._check_pairing(student_feats, teacher_feats)
        branches = {len(s) // len(t) for s, t in zip(student_feats, teacher_feats)
                    if len(s) > len(t) and len(s) % len(t) == 0}
        if branches:
            print_log(f'The student\'s maps hold {sorted(branches)} times the teacher\'s images: '
                      'a student that runs several branches on each image (TridentNet, in '
                      'training) stacks them along the batch; each teacher map is repeated to '
                      'teach every branch.', logger='current')
        self._try_extra_losses(student_feats, teacher_feats)
        self.connector = MODELS.build(
            dict(self.connector_cfg,
                 student_channels=[f.shape[1] for f in student_feats],
                 teacher_channels=[f.shape[1] for f in teacher_feats]))

    def _check_one_map_per_loss(self, feats: RecordedFeatures, group: RecorderGroup) -> None:
        """An extra loss reads one map a network; a recorder of a tuple output gives several."""
        for name, maps in feats.named.items():
            if len(maps) != 1:
                source = group.named[name].source
                raise ValueError(
                    f'extra_losses[{name!r}] reads recorder "{source}" of {group.network}, '
                    f'which yields {len(maps)} feature maps (a tuple output); a loss takes one. '
                    f'Pick one with element=, e.g. dict(source=\'{source}\', element=-1).')

    def _try_extra_losses(self, student_feats: RecordedFeatures,
                          teacher_feats: RecordedFeatures) -> None:
        """Each extra loss once on the probe step's maps: maps it cannot compare (logits of
        other class counts) stop the build, not the first training step."""
        for name, loss in self.extra_losses.items():
            try:
                with torch.no_grad():
                    loss(student_feats.named[name][0], teacher_feats.named[name][0])
            except (ValueError, RuntimeError) as error:
                raise ValueError(f'extra_losses[{name!r}] cannot compare the outputs it reads: '
                                 f'{error}') from None

    def _check_pairing(self, student_feats: List[Tensor], teacher_feats: List[Tensor]) -> None:
        if len(student_feats) != len(teacher_feats):
            raise ValueError(
                f'The student recorders yield {len(student_feats)} features '
                f'{[tuple(f.shape) for f in student_feats]} from '
                f'{self.student_recorders.sources}, the teacher recorders {len(teacher_feats)} '
                f'{[tuple(f.shape) for f in teacher_feats]} from '
                f'{self.teacher_recorders.sources}. ReviewKD pairs them one to one: record as '
                'many levels in both (a recorder of a tuple output yields one feature per '
                'element).')

    def forward(self, student_feats: RecordedFeatures,
                teacher_feats: RecordedFeatures) -> Dict[str, Tensor]:
        """The ReviewKD loss and the extra losses (times the warm-up factor), each level's share
        of the ReviewKD loss and the warm-up factor (logged only) for one step's features."""
        if self.connector is None:
            raise RuntimeError('prepare() must run before the first step; '
                               'SingleTeacherDistill does it when it is built.')
        self._check_pairing(student_feats, teacher_feats)
        aligned = self.connector(student_feats, [t.shape[-2:] for t in teacher_feats])
        per_level = [self.loss([y], [_per_branch(t, len(y))])
                     for y, t in zip(aligned, teacher_feats)]
        factor = 1.0 if self.warmup is None else self.warmup.factor()
        losses = {self.loss_name: torch.stack(per_level).sum() * factor}
        for name, loss in self.extra_losses.items():
            (student, ), (teacher, ) = student_feats.named[name], teacher_feats.named[name]
            losses[name] = loss(student, teacher) * factor
        losses.update({f'reviewkd_level{i}': level.detach() * factor
                       for i, level in enumerate(per_level)})
        if self.warmup is not None:
            losses['reviewkd_warmup'] = per_level[0].new_tensor(factor)
        return losses


def _per_branch(teacher: Tensor, student_batch: int) -> Tensor:
    """``teacher`` repeated along the batch where the student's batch is a whole multiple of its
    own: a multi-branch student (TridentNet) runs each image once per branch and stacks the
    branches along the batch, branch after branch, where the teacher in eval mode runs one."""
    if student_batch > len(teacher) and student_batch % len(teacher) == 0:
        return teacher.repeat(student_batch // len(teacher), *[1] * (teacher.dim() - 1))
    return teacher


def _check_loss_name(name: str) -> None:
    if name == 'loss':
        raise ValueError('Loss name "loss" is mmengine\'s: it logs the trained total under it, '
                         'so the log would show the distillation loss as the total. Name it '
                         'e.g. "loss_reviewkd".')
    if 'loss' not in name:
        raise ValueError(f'Loss name "{name}" must contain "loss", or mmengine will log it '
                         'without training on it.')
