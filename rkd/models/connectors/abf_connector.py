"""The ABF chain: student features in, teacher-shaped features out, deepest level first."""
from functools import lru_cache
from typing import Callable, List, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from rkd.registry import MODELS

from .._fast import abf_forward, check_impl
from .abf import ABF
from .base_connector import BaseConnector


@MODELS.register_module()
class ABFConnector(BaseConnector):
    """ReviewKD's review connector: one :class:`ABF` per level, fused from deep to shallow, so
    that every shallow student level sees what the deeper ones learnt (Chen et al., CVPR 2021).

    Args:
        student_channels: Channels of the student features, shallow -> deep.
        teacher_channels: Channels of the teacher features, shallow -> deep.
        mid_channels: Channels of the fused maps. Defaults to
            ``min(512, student_channels[-1])``, as in the paper.
        impl: ``'fast'`` (default), ``'reference'`` (the paper's forward literally) or
            ``'compiled'`` (the reference through ``torch.compile``, compiled at the first call:
            minutes on a CPU); all read the same parameters.
        init_cfg: mmengine init config; ABF convs are already kaiming_uniform (a=1) initialised.
    """

    def __init__(self,
                 student_channels: Sequence[int],
                 teacher_channels: Sequence[int],
                 mid_channels: Optional[int] = None,
                 impl: str = 'fast',
                 init_cfg: Union[dict, List[dict], None] = None) -> None:
        super().__init__(student_channels, teacher_channels, init_cfg=init_cfg)
        self.impl = check_impl(impl, 'ABFConnector')
        self.mid_channels = (
            min(512, student_channels[-1]) if mid_channels is None else mid_channels)
        last = len(student_channels) - 1
        self.abfs = nn.ModuleList(
            ABF(c_in, self.mid_channels, c_out, fuse=i < last)
            for i, (c_in, c_out) in enumerate(zip(student_channels, teacher_channels)))

    def forward(self, student_feats: Sequence[Tensor],
                teacher_sizes: Sequence[Sequence[int]]) -> List[Tensor]:
        """Align ``student_feats`` (shallow -> deep) to the teacher: one (N, C_t, H_t, W_t) each."""
        self.check_inputs(student_feats, teacher_sizes)
        chain = _compiled_chain() if self.impl == 'compiled' else _chain
        return chain(self, list(student_feats), [tuple(int(d) for d in s) for s in teacher_sizes])


def _chain(connector: ABFConnector, feats: List[Tensor], sizes: List[tuple]) -> List[Tensor]:
    """The review: deep -> shallow, each level fusing the residual of the one below it."""
    outs: List[Optional[Tensor]] = [None] * len(connector.abfs)
    residual = None
    for i in reversed(range(len(connector.abfs))):
        abf = connector.abfs[i]
        if connector.impl == 'fast':  # the shallowest level's residual is not read
            outs[i], residual = abf_forward(abf, feats[i], residual, sizes[i], i > 0)
        else:
            outs[i], residual = abf(feats[i], residual, sizes[i])
    return outs


@lru_cache(maxsize=None)
def _compiled_chain() -> Callable:
    """:func:`_chain` (the literal form) through ``torch.compile``, built at its first call."""
    return torch.compile(_chain)
