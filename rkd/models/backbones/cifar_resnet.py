"""The CIFAR ResNets of the KD literature (resnet8 ... resnet110, resnet8x4, resnet32x4)."""
from typing import Optional, Sequence, Union

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import nn

from rkd.registry import MODELS

from .base import DEFAULT_INIT_CFG, StagedBackbone


class CIFARBasicBlock(nn.Module):
    """3x3-3x3 residual block. ``relu`` runs twice; its last call is the block's final ReLU, so a
    recorder on its input (last call) sees the block output before activation."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, out_channels)[1]
        # Not in-place: a forward hook must still see the pre-activation input.
        self.relu = nn.ReLU()
        self.conv2 = build_conv_layer(
            conv_cfg, out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, out_channels)[1]
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                build_conv_layer(conv_cfg, in_channels, out_channels, 1, stride=stride, bias=False),
                build_norm_layer(norm_cfg, out_channels)[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


@MODELS.register_module()
class CIFARResNet(StagedBackbone):
    """ResNet for 32x32 inputs as in CRD's RepDistiller: 3x3 stem, three stages of basic blocks
    at strides 1, 2, 4 (maps 32, 16, 8), ``(depth - 2) / 6`` blocks each.

    ``width_multiplier=1``: stem 16, stages (16, 32, 64) (resnet20/32/56/110);
    ``width_multiplier=4``: stem 32, stages (64, 128, 256) (resnet8x4, resnet32x4: the literature's
    "x4" widens the stem only 2x). Parameter names equal RepDistiller's (``conv1``, ``bn1``,
    ``layer{i}.{j}.conv1/bn1/conv2/bn2/downsample``), so its checkpoints load after a prefix change.

    Feature points, ``n = (depth - 2) // 6``, stage ``i`` in 1..3:

    - stage output: ``layer{i}`` output (after the final ReLU);
    - pre-activation: input of ``layer{i}.{n-1}.relu``, last call (not in-place);
    - pooled embedding: ``neck`` output, channels of stage 3.

    Args:
        depth: 6n + 2 (8, 14, 20, 32, 44, 56, 110).
        width_multiplier: 1 or 4, see above.
        out_indices: stages to return (0-based). Defaults to the last.
        frozen_stages: freeze the stem and stages ``0..frozen_stages-1``; -1 freezes nothing.
        conv_cfg, norm_cfg: mmcv layer configs.
        norm_eval: keep BN layers in eval mode while training.
    """

    widths = {1: (16, (16, 32, 64)), 4: (32, (64, 128, 256))}

    def __init__(self, depth: int, width_multiplier: int = 1,
                 out_indices: Union[int, Sequence[int]] = (2, ), frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False, init_cfg: Union[dict, list, None] = DEFAULT_INIT_CFG):
        super().__init__(norm_eval, init_cfg)
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f'depth must be 6n + 2, got {depth}')
        if width_multiplier not in self.widths:
            raise ValueError(f'width_multiplier must be one of {tuple(self.widths)}')
        num_blocks = (depth - 2) // 6
        stem_channels, stage_channels = self.widths[width_multiplier]

        self.conv1 = build_conv_layer(conv_cfg, 3, stem_channels, 3, padding=1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, stem_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        in_channels = stem_channels
        for i, (channels, stride) in enumerate(zip(stage_channels, (1, 2, 2))):
            blocks = [
                CIFARBasicBlock(in_channels if j == 0 else channels, channels,
                                stride if j == 0 else 1, conv_cfg, norm_cfg)
                for j in range(num_blocks)
            ]
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
            in_channels = channels
        self._set_stages(('conv1', 'bn1', 'relu'), [('layer1', ), ('layer2', ), ('layer3', )],
                         out_indices, frozen_stages)
