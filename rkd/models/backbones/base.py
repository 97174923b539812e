"""A stem followed by stages: the out_indices / frozen_stages / norm_eval logic of mmpretrain's
ResNet, written once for all of rkd's backbones."""
from typing import Sequence, Tuple, Union

import torch
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

# Kaiming normal (fan_out, relu) for convs and BN weight 1 / bias 0, as the CIFAR KD code bases do.
DEFAULT_INIT_CFG = [
    dict(type='Kaiming', layer=['Conv2d']),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
]


class StagedBackbone(BaseBackbone):
    """Runs ``stem_names`` then each entry of ``stage_names`` (module attribute names, in order).

    Subclasses build their modules, then call :meth:`_set_stages`. Stage ``i`` (0-based, as in
    ``out_indices``) is ``stage_names[i]``; ``frozen_stages=k`` freezes the stem and stages
    ``0..k-1`` (``-1`` freezes nothing), like mmpretrain's ResNet.
    """

    def __init__(self, norm_eval: bool = False, init_cfg: Union[dict, list, None] = None):
        super().__init__(init_cfg)
        self.norm_eval = norm_eval

    def _set_stages(self, stem_names: Sequence[str], stage_names: Sequence[Sequence[str]],
                    out_indices: Union[int, Sequence[int]], frozen_stages: int) -> None:
        num_stages = len(stage_names)
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        for i in out_indices:
            if not -num_stages <= i < num_stages:
                raise ValueError(f'out_indices {tuple(out_indices)} out of range for '
                                 f'{num_stages} stages')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}], got {frozen_stages}')
        self.stem_names = tuple(stem_names)
        self.stage_names = tuple(tuple(names) for names in stage_names)
        self.out_indices = tuple(i % num_stages for i in out_indices)
        self.frozen_stages = frozen_stages
        self._freeze_stages()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        for name in self.stem_names:
            x = getattr(self, name)(x)
        outs = []
        for i, names in enumerate(self.stage_names):
            for name in names:
                x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        names = self.stem_names + sum(self.stage_names[:self.frozen_stages], ())
        for name in names:
            module = getattr(self, name)
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> nn.Module:
        """Switch mode, keeping frozen stages (and all BN layers if ``norm_eval``) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
