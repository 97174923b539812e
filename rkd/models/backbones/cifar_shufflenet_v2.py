"""ShuffleNetV2 (1x) for CIFAR as used by the KD literature."""
from typing import Optional, Sequence, Union

import torch
from mmcv.cnn import ConvModule, build_conv_layer, build_norm_layer
from mmpretrain.models.utils import channel_shuffle
from torch import nn

from rkd.registry import MODELS

from .base import DEFAULT_INIT_CFG, StagedBackbone


class CIFARShuffleV2DownBlock(nn.Module):
    """Stride-2 unit: both branches (depthwise 3x3 + 1x1; 1x1 + depthwise 3x3 + 1x1) see the
    whole input; their concatenation is shuffled."""

    def __init__(self, in_channels: int, out_channels: int, conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        mid_channels = out_channels // 2

        def conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Module:
            return build_conv_layer(conv_cfg, cin, cout, k, stride=stride, padding=k // 2,
                                    groups=groups, bias=False)

        self.conv1 = conv(in_channels, in_channels, 3, 2, in_channels)
        self.bn1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv2 = conv(in_channels, mid_channels, 1)
        self.bn2 = build_norm_layer(norm_cfg, mid_channels)[1]
        self.conv3 = conv(in_channels, mid_channels, 1)
        self.bn3 = build_norm_layer(norm_cfg, mid_channels)[1]
        self.conv4 = conv(mid_channels, mid_channels, 3, 2, mid_channels)
        self.bn4 = build_norm_layer(norm_cfg, mid_channels)[1]
        self.conv5 = conv(mid_channels, mid_channels, 1)
        self.bn5 = build_norm_layer(norm_cfg, mid_channels)[1]
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = self.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))))
        right = self.bn4(self.conv4(self.relu(self.bn3(self.conv3(x)))))
        right = self.relu(self.bn5(self.conv5(right)))
        return channel_shuffle(torch.cat([left, right], 1), 2)


class CIFARShuffleV2Block(nn.Module):
    """Stride-1 unit: half the channels pass through, the other half go through 1x1, depthwise
    3x3, 1x1; then concatenate and shuffle.

    The final ReLU is applied after the shuffle, to all channels: the pass-through half is the
    output of an earlier ReLU, so this equals RepDistiller's block, and the input of ``relu``
    (last of two calls; not in-place) is the whole pre-activation output in output channel order.
    """

    def __init__(self, channels: int, conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.split = channels // 2
        branch_channels = channels - self.split
        self.conv1 = build_conv_layer(conv_cfg, branch_channels, branch_channels, 1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, branch_channels)[1]
        self.conv2 = build_conv_layer(conv_cfg, branch_channels, branch_channels, 3, padding=1,
                                      groups=branch_channels, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, branch_channels)[1]
        self.conv3 = build_conv_layer(conv_cfg, branch_channels, branch_channels, 1, bias=False)
        self.bn3 = build_norm_layer(norm_cfg, branch_channels)[1]
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, :self.split], x[:, self.split:]
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x2)))))
        out = self.bn3(self.conv3(out))
        return self.relu(channel_shuffle(torch.cat([x1, out], 1), 2))


@MODELS.register_module()
class CIFARShuffleNetV2(StagedBackbone):
    """ShuffleNetV2 1x for 32x32 inputs as in CRD's RepDistiller (ShuffleNetv2.py, net_size 1):
    1x1 stem of 24 channels, three stages (a down block, then 3, 7, 3 blocks) with 116, 232, 464
    channels on 16, 8, 4 maps, then the 1x1 ``conv2`` to 1024 channels.

    Stage index 0-2 are ``layer1..layer3``, index 3 is ``conv2`` (the default output). The
    official ReviewKD features are the three layer outputs and the pooled 1024-d embedding.

    Feature points, stage ``i`` in 1..3, last block ``b`` = 3, 7, 3:

    - stage output: ``layer{i}`` output (after ReLU);
    - pre-activation: input of ``layer{i}.{b}.relu``, last call (of two; not in-place). It is
      RepDistiller's ``preact`` channel-shuffled (RepDistiller returns it unshuffled, in another
      channel order than the output);
    - ``conv2``: output, pre-activation = input of ``conv2.activate`` (not in-place);
    - pooled embedding: ``neck`` output, 1024 channels.

    Args:
        out_indices: stages to return (0-based, 0-3). Defaults to ``conv2``.
        frozen_stages: freeze the stem and stages ``0..frozen_stages-1``; -1 freezes nothing.
        conv_cfg, norm_cfg: mmcv layer configs.
        norm_eval: keep BN layers in eval mode while training.
    """

    stage_channels = (116, 232, 464)
    stage_blocks = (3, 7, 3)
    last_channels = 1024

    def __init__(self, out_indices: Union[int, Sequence[int]] = (3, ), frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False, init_cfg: Union[dict, list, None] = DEFAULT_INIT_CFG):
        super().__init__(norm_eval, init_cfg)
        in_channels = 24
        self.conv1 = build_conv_layer(conv_cfg, 3, in_channels, 1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        for i, (channels, num_blocks) in enumerate(zip(self.stage_channels, self.stage_blocks)):
            blocks = [CIFARShuffleV2DownBlock(in_channels, channels, conv_cfg, norm_cfg)]
            blocks += [CIFARShuffleV2Block(channels, conv_cfg, norm_cfg) for _ in range(num_blocks)]
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
            in_channels = channels
        self.conv2 = ConvModule(in_channels, self.last_channels, 1, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg, inplace=False)
        self._set_stages(('conv1', 'bn1', 'relu'),
                         [('layer1', ), ('layer2', ), ('layer3', ), ('conv2', )],
                         out_indices, frozen_stages)
