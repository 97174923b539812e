"""MobileNetV2 for CIFAR as used by the KD literature ("mobile_half": width 0.5)."""
from typing import Optional, Sequence, Union

import torch
from mmcv.cnn import ConvModule
from torch import nn

from rkd.registry import MODELS

from .base import DEFAULT_INIT_CFG, StagedBackbone


class CIFARInvertedResidual(nn.Module):
    """1x1 expand, 3x3 depthwise, 1x1 linear projection (+ identity when shapes allow).

    Unlike torchvision's, the expansion conv exists even for ``expand_ratio=1`` (as in
    RepDistiller). The output is linear: no ReLU follows the block.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = dict(type='BN')):
        super().__init__()
        mid_channels = in_channels * expand_ratio
        self.use_res_connect = stride == 1 and in_channels == out_channels
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.conv = nn.Sequential(
            ConvModule(in_channels, mid_channels, 1, **common),
            ConvModule(mid_channels, mid_channels, 3, stride=stride, padding=1,
                       groups=mid_channels, **common),
            ConvModule(mid_channels, out_channels, 1, act_cfg=None, **common))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_res_connect else out


@MODELS.register_module()
class CIFARMobileNetV2(StagedBackbone):
    """MobileNetV2 for 32x32 inputs as in CRD's RepDistiller (mobilenetv2.py, ``mobile_half`` =
    ``width_mult=0.5, expand_ratio=6``): stride-2 stem ``conv1``, seven stages ``layer1..layer7``
    of inverted residuals, then the 1x1 ``conv2`` to 1280 channels.

    Stages follow mmpretrain's MobileNetV2: index 0-6 are ``layer1..layer7``, index 7 is ``conv2``
    (the default output). At width 0.5 the layers have 8, 12, 16, 32, 48, 80, 160 channels on
    16, 16, 8, 4, 4, 2, 2 maps. The official ReviewKD features are the outputs of ``layer2``
    (12, 16x16), ``layer3`` (16, 8x8), ``layer5`` (48, 4x4), ``layer7`` (160, 2x2) and the pooled
    embedding (1280): ``out_indices=(1, 2, 4, 6)`` gives those four maps.

    No ReLU ends a layer (the projection is linear), so a layer's output is already its
    pre-activation feature: record ``layer{i}`` output for both roles. For ``conv2``: output
    (after ReLU), pre-activation = input of ``conv2.activate`` (not in-place).

    Args:
        width_mult: channel multiplier (channels truncated with ``int`` as in RepDistiller).
        expand_ratio: expansion of the inverted residuals after the first stage (T).
        out_indices: stages to return (0-based, 0-7). Defaults to ``conv2``.
        frozen_stages: freeze ``conv1`` and stages ``0..frozen_stages-1``; -1 freezes nothing.
        conv_cfg, norm_cfg: mmcv layer configs.
        norm_eval: keep BN layers in eval mode while training.
    """

    # expands (False: ratio 1, True: expand_ratio), channels, blocks, first stride
    arch_settings = ((False, 16, 1, 1), (True, 24, 2, 1), (True, 32, 3, 2), (True, 64, 4, 2),
                     (True, 96, 3, 1), (True, 160, 3, 2), (True, 320, 1, 1))

    def __init__(self, width_mult: float = 0.5, expand_ratio: int = 6,
                 out_indices: Union[int, Sequence[int]] = (7, ), frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False, init_cfg: Union[dict, list, None] = DEFAULT_INIT_CFG):
        super().__init__(norm_eval, init_cfg)
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        in_channels = int(32 * width_mult)
        self.conv1 = ConvModule(3, in_channels, 3, stride=2, padding=1, **common)
        for i, (expand, channels, num_blocks, stride) in enumerate(self.arch_settings):
            channels = int(channels * width_mult)
            blocks = []
            for j in range(num_blocks):
                blocks.append(CIFARInvertedResidual(in_channels, channels, stride if j == 0 else 1,
                                                    expand_ratio if expand else 1, **common))
                in_channels = channels
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
        last_channels = int(1280 * width_mult) if width_mult > 1.0 else 1280
        # Its ReLU is a feature point: not in-place.
        self.conv2 = ConvModule(in_channels, last_channels, 1, inplace=False, **common)
        stages = [(f'layer{i + 1}', ) for i in range(len(self.arch_settings))] + [('conv2', )]
        self._set_stages(('conv1', ), stages, out_indices, frozen_stages)
