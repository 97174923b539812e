"""What a ReviewKD connector is: student features in, teacher-shaped features out."""
from abc import ABCMeta, abstractmethod
from typing import List, Sequence, Union

from mmengine.model import BaseModule
from torch import Tensor


class BaseConnector(BaseModule, metaclass=ABCMeta):
    """The contract a connector implements to plug into ``rkd.ReviewKDDistiller`` by ``type``.

    The distiller reads the channels off one probe forward of both networks and builds the
    connector as ``MODELS.build(dict(cfg, student_channels=..., teacher_channels=...))``, so a
    config names only the other arguments. Every training step it calls
    ``connector(student_feats, teacher_sizes)`` and compares the outputs, level by level, with
    the teacher's features.

    Args:
        student_channels: Channels of the student features, one per level, shallow -> deep.
        teacher_channels: Channels of the teacher features, as many levels.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 student_channels: Sequence[int],
                 teacher_channels: Sequence[int],
                 init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        if len(student_channels) != len(teacher_channels):
            raise ValueError(
                f'{name} needs as many student as teacher levels, got '
                f'{len(student_channels)} student levels {list(student_channels)} and '
                f'{len(teacher_channels)} teacher levels {list(teacher_channels)}')
        if not student_channels:
            raise ValueError(f'{name} needs at least one level')
        self.student_channels = tuple(student_channels)
        self.teacher_channels = tuple(teacher_channels)

    @abstractmethod
    def forward(self, student_feats: Sequence[Tensor],
                teacher_sizes: Sequence[Sequence[int]]) -> List[Tensor]:
        """One (N, teacher_channels[i], *teacher_sizes[i]) map per (N, student_channels[i], H,
        W) student feature, shallow -> deep."""

    def check_inputs(self, feats: Sequence[Tensor], sizes: Sequence[Sequence[int]]) -> None:
        """Fail early, with both the expected and the received shapes, on features that do not
        fit the channels this connector was built for."""
        name, levels = type(self).__name__, len(self.student_channels)
        expected = [f'(N, {c}, H, W)' for c in self.student_channels]
        got = [tuple(f.shape) for f in feats]
        if len(feats) != levels or len(sizes) != levels:
            raise ValueError(
                f'{name} expects {levels} student features {expected} and {levels} teacher '
                f'sizes, got {len(feats)} features {got} and {len(sizes)} teacher sizes '
                f'{[tuple(s) for s in sizes]}')
        for i, (feat, channels) in enumerate(zip(feats, self.student_channels)):
            if feat.dim() != 4 or feat.shape[1] != channels:
                raise ValueError(
                    f'{name} level {i}: expected a student feature of shape {expected[i]}, got '
                    f'{tuple(feat.shape)} (all expected: {expected}, all got: {got})')
