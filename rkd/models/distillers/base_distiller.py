"""What a distiller is to the algorithm: recorders of both networks, then losses from them."""
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence, Union

from mmengine.model import BaseModule
from torch import Tensor

from ..recorders import ModuleRecorder, RecorderGroup

RecorderCfg = Union[str, dict, ModuleRecorder]


class BaseDistiller(BaseModule, metaclass=ABCMeta):
    """The contract a distiller implements to plug into ``rkd.SingleTeacherDistill`` by ``type``.

    The algorithm binds :attr:`student_recorders` and :attr:`teacher_recorders` to its two
    networks, runs one training step of both on a synthetic batch when it is built and hands the
    recorded features to :meth:`prepare` (build what depends on their shapes there: rkd's
    configs never write channels). Each training step it records both networks again and adds
    what :meth:`forward` returns to the student's losses.

    Args:
        student_recorders: what to record in the student, in the order :meth:`forward` gets it.
        teacher_recorders: what to record in the teacher, likewise.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 student_recorders: Sequence[RecorderCfg],
                 teacher_recorders: Sequence[RecorderCfg],
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        self.student_recorders = RecorderGroup(student_recorders, network='the student')
        self.teacher_recorders = RecorderGroup(teacher_recorders, network='the teacher')

    @abstractmethod
    def prepare(self, student_feats: List[Tensor], teacher_feats: List[Tensor]) -> None:
        """Build the parts that depend on the features' shapes, from those of the probe step."""

    @abstractmethod
    def forward(self, student_feats: List[Tensor],
                teacher_feats: List[Tensor]) -> Dict[str, Tensor]:
        """Named losses of one step. As for mmengine models: entries whose key contains
        ``loss`` are summed into the trained total, the others are only logged."""
