"""ShuffleNetV1 (3 groups) for CIFAR as used by the KD literature."""
from typing import Optional, Sequence, Union

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmpretrain.models.utils import channel_shuffle
from torch import nn

from rkd.registry import MODELS

from .base import DEFAULT_INIT_CFG, StagedBackbone


class CIFARShuffleV1Block(nn.Module):
    """Grouped 1x1, channel shuffle, depthwise 3x3, grouped 1x1; added to the input, or at
    stride 2 concatenated with its 3x3 average pool.

    As in RepDistiller, a ReLU also follows the depthwise conv. ``relu`` runs three times; its
    last call is the block's final ReLU (not in-place).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, groups: int,
                 first_groups: int, conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.stride = stride
        self.first_groups = first_groups
        branch_channels = out_channels - in_channels if stride == 2 else out_channels
        mid_channels = branch_channels // 4
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, mid_channels, 1, groups=first_groups, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, mid_channels)[1]
        self.conv2 = build_conv_layer(conv_cfg, mid_channels, mid_channels, 3, stride=stride,
                                      padding=1, groups=mid_channels, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, mid_channels)[1]
        self.conv3 = build_conv_layer(
            conv_cfg, mid_channels, branch_channels, 1, groups=groups, bias=False)
        self.bn3 = build_norm_layer(norm_cfg, branch_channels)[1]
        self.relu = nn.ReLU()
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = channel_shuffle(out, self.first_groups)
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = torch.cat([out, self.shortcut(x)], 1) if self.stride == 2 else out + x
        return self.relu(out)


@MODELS.register_module()
class CIFARShuffleNetV1(StagedBackbone):
    """ShuffleNetV1 (g=3) for 32x32 inputs as in CRD's RepDistiller (ShuffleNetv1.py): 1x1 stem
    of 24 channels, three stages of 4, 8, 4 blocks with 240, 480, 960 channels on 16, 8, 4 maps
    (each stage opens with a stride-2 block). The first block's 1x1 conv is ungrouped.

    Feature points, stage ``i`` in 1..3, last block ``b`` = 3, 7, 3:

    - stage output: ``layer{i}`` output (after ReLU);
    - pre-activation: input of ``layer{i}.{b}.relu``, last call (of three; not in-place);
    - pooled embedding: ``neck`` output, 960 channels.

    Args:
        out_indices: stages to return (0-based). Defaults to the last.
        frozen_stages: freeze the stem and stages ``0..frozen_stages-1``; -1 freezes nothing.
        conv_cfg, norm_cfg: mmcv layer configs.
        norm_eval: keep BN layers in eval mode while training.
    """

    groups = 3
    stage_channels = (240, 480, 960)
    stage_blocks = (4, 8, 4)

    def __init__(self, out_indices: Union[int, Sequence[int]] = (2, ), frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False, init_cfg: Union[dict, list, None] = DEFAULT_INIT_CFG):
        super().__init__(norm_eval, init_cfg)
        in_channels = 24
        self.conv1 = build_conv_layer(conv_cfg, 3, in_channels, 1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        for i, (channels, num_blocks) in enumerate(zip(self.stage_channels, self.stage_blocks)):
            blocks = []
            for j in range(num_blocks):
                first_groups = 1 if i == 0 and j == 0 else self.groups
                blocks.append(CIFARShuffleV1Block(in_channels, channels, 2 if j == 0 else 1,
                                                  self.groups, first_groups, conv_cfg, norm_cfg))
                in_channels = channels
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
        self._set_stages(('conv1', 'bn1', 'relu'), [('layer1', ), ('layer2', ), ('layer3', )],
                         out_indices, frozen_stages)
