"""The ABF chain: student features in, teacher-shaped features out, deepest level first."""
from typing import List, Optional, Sequence, Union

from mmengine.model import BaseModule
from torch import Tensor, nn

from rkd.registry import MODELS
from .abf import ABF

IMPLS = ('fast', 'reference')


@MODELS.register_module()
class ABFConnector(BaseModule):
    """ReviewKD's review connector: one :class:`ABF` per level, fused from deep to shallow.

    Args:
        student_channels: Channels of the student features, shallow -> deep.
        teacher_channels: Channels of the teacher features, shallow -> deep.
        mid_channels: Channels of the fused maps. Defaults to
            ``min(512, student_channels[-1])``, as in the paper.
        impl: ``'fast'`` (default) or ``'reference'``, the literal form of DESIGN.md; both read
            the same parameters.
        init_cfg: mmengine init config; ABF convs are already kaiming_uniform (a=1) initialised.
    """

    def __init__(self,
                 student_channels: Sequence[int],
                 teacher_channels: Sequence[int],
                 mid_channels: Optional[int] = None,
                 impl: str = 'fast',
                 init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(student_channels) != len(teacher_channels):
            raise ValueError(
                f'ABFConnector needs as many student as teacher levels, got '
                f'{len(student_channels)} student levels {list(student_channels)} and '
                f'{len(teacher_channels)} teacher levels {list(teacher_channels)}')
        if not student_channels:
            raise ValueError('ABFConnector needs at least one level')
        if impl not in IMPLS:
            raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
        self.student_channels = tuple(student_channels)
        self.teacher_channels = tuple(teacher_channels)
        self.mid_channels = (
            min(512, student_channels[-1]) if mid_channels is None else mid_channels)
        self.impl = impl
        last = len(student_channels) - 1
        self.abfs = nn.ModuleList(
            ABF(c_in, self.mid_channels, c_out, fuse=i < last)
            for i, (c_in, c_out) in enumerate(zip(student_channels, teacher_channels)))

    def forward(self, student_feats: Sequence[Tensor],
                teacher_sizes: Sequence[Sequence[int]]) -> List[Tensor]:
        """Align ``student_feats`` (shallow -> deep) to the teacher: one (N, C_t, H_t, W_t) each."""
        self._check_inputs(student_feats, teacher_sizes)
        outs: List[Optional[Tensor]] = [None] * len(self.abfs)
        residual = None
        for i in reversed(range(len(self.abfs))):
            abf, args = self.abfs[i], (student_feats[i], residual, tuple(teacher_sizes[i]))
            if self.impl == 'fast':  # the shallowest level's residual is not read
                outs[i], residual = abf.forward_fast(*args, keep_residual=i > 0)
            else:
                outs[i], residual = abf.forward_reference(*args)
        return outs

    def _check_inputs(self, feats: Sequence[Tensor], sizes: Sequence[Sequence[int]]) -> None:
        """Fail early with both the expected and the received shapes."""
        expected = [f'(N, {c}, H, W)' for c in self.student_channels]
        got = [tuple(f.shape) for f in feats]
        if len(feats) != len(self.abfs) or len(sizes) != len(self.abfs):
            raise ValueError(
                f'ABFConnector expects {len(self.abfs)} student features {expected} and '
                f'{len(self.abfs)} teacher sizes, got {len(feats)} features {got} and '
                f'{len(sizes)} teacher sizes {[tuple(s) for s in sizes]}')
        for i, (feat, channels) in enumerate(zip(feats, self.student_channels)):
            if feat.dim() != 4 or feat.shape[1] != channels:
                raise ValueError(
                    f'ABFConnector level {i}: expected a student feature of shape '
                    f'{expected[i]}, got {tuple(feat.shape)} (all expected: {expected}, '
                    f'all got: {got})')
