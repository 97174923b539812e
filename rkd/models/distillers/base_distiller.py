"""What a distiller is to the algorithm: recorders of both networks, then losses from them."""
from abc import ABCMeta, abstractmethod
from typing import Dict, Mapping, Optional, Sequence

from mmengine.model import BaseModule
from torch import Tensor

from ..recorders import RecordedFeatures, RecorderCfg, RecorderGroup


class BaseDistiller(BaseModule, metaclass=ABCMeta):
    """The contract a distiller implements to plug into ``rkd.SingleTeacherDistill`` by ``type``.

    The algorithm binds :attr:`student_recorders` and :attr:`teacher_recorders` to its two
    networks, runs one training step of both on a synthetic batch when it is built and hands the
    recorded features to :meth:`prepare` (build what depends on their shapes there: rkd's
    configs never write channels). Each training step it records both networks again and adds
    what :meth:`forward` returns to the student's losses.

    The features are :class:`~rkd.models.recorders.RecordedFeatures`: the list of the levels,
    and under ``.named[name]`` the maps of the recorders named in ``named_recorders``.

    Args:
        student_recorders: the student's levels, in the order :meth:`forward` gets them.
        teacher_recorders: the teacher's levels, likewise.
        named_recorders: ``{name: dict(student=<recorder>, teacher=<recorder>)}``: recorders
            read by name rather than as levels (by an extra loss, for example).
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 student_recorders: Sequence[RecorderCfg],
                 teacher_recorders: Sequence[RecorderCfg],
                 init_cfg: Optional[dict] = None,
                 named_recorders: Optional[Mapping[str, Mapping[str, RecorderCfg]]] = None
                 ) -> None:
        super().__init__(init_cfg)
        named = dict(named_recorders or {})
        check_recorder_pairs(named, 'named_recorders')
        self.student_recorders = RecorderGroup(
            student_recorders, 'the student', {n: p['student'] for n, p in named.items()})
        self.teacher_recorders = RecorderGroup(
            teacher_recorders, 'the teacher', {n: p['teacher'] for n, p in named.items()})

    @abstractmethod
    def prepare(self, student_feats: RecordedFeatures, teacher_feats: RecordedFeatures) -> None:
        """Build the parts that depend on the features' shapes, from those of the probe step."""

    @abstractmethod
    def forward(self, student_feats: RecordedFeatures,
                teacher_feats: RecordedFeatures) -> Dict[str, Tensor]:
        """Named losses of one step. As for mmengine models: entries whose key contains
        ``loss`` are summed into the trained total, the others are only logged."""


def check_recorder_pairs(pairs: Mapping[str, Mapping], what: str) -> None:
    """Each entry of ``pairs`` (the config key ``what``) names a recorder of both networks."""
    for name, pair in pairs.items():
        missing = {'student', 'teacher'} - set(pair)
        if missing:
            raise ValueError(f'{what}[{name!r}] needs the recorder of each network it reads: '
                             f'{sorted(missing)} missing, e.g. student=\'head.fc\'.')
