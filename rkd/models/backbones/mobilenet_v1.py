"""MobileNetV1 (width 1.0) for ImageNet, the ReviewKD ImageNet student."""
from typing import Optional, Sequence, Union

from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from torch import nn

from rkd.registry import MODELS

from .base import DEFAULT_INIT_CFG, StagedBackbone


@MODELS.register_module()
class MobileNetV1(StagedBackbone):
    """MobileNetV1 1.0 for 224 px inputs (4.2M parameters with a 1000-class fc): a stride-2 3x3
    ``conv1`` of 32 channels, then 13 depthwise-separable blocks (3x3 depthwise-BN-ReLU, 1x1
    pointwise-BN-ReLU) grouped into four stages ending at strides 4, 8, 16, 32 with 128, 256, 512,
    1024 channels (``layer1..layer4`` with 3, 2, 6, 2 blocks), as the official ReviewKD code
    splits it for its five levels (four stage outputs and the pooled embedding).

    Feature points, stage ``i`` in 1..4, last block ``b`` = 2, 1, 5, 1:

    - stage output: ``layer{i}`` output (after ReLU);
    - pre-activation: input of ``layer{i}.{b}.pointwise_conv.activate`` (one call, not in-place);
      the official code uses it for student and teacher alike;
    - pooled embedding: ``neck`` output, 1024 channels.

    Args:
        out_indices: stages to return (0-based). Defaults to the last.
        frozen_stages: freeze ``conv1`` and stages ``0..frozen_stages-1``; -1 freezes nothing.
        conv_cfg, norm_cfg: mmcv layer configs.
        norm_eval: keep BN layers in eval mode while training.
    """

    # (out channels, stride) of the depthwise-separable blocks, per stage
    arch_settings = (((64, 1), (128, 2), (128, 1)),
                     ((256, 2), (256, 1)),
                     ((512, 2), ) + ((512, 1), ) * 5,
                     ((1024, 2), (1024, 1)))

    def __init__(self, out_indices: Union[int, Sequence[int]] = (3, ), frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False, init_cfg: Union[dict, list, None] = DEFAULT_INIT_CFG):
        super().__init__(norm_eval, init_cfg)
        in_channels = 32
        self.conv1 = ConvModule(3, in_channels, 3, stride=2, padding=1, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg)
        for i, blocks_cfg in enumerate(self.arch_settings):
            blocks = []
            for j, (channels, stride) in enumerate(blocks_cfg):
                # The ReLU ending a stage is a feature point: not in-place.
                blocks.append(DepthwiseSeparableConvModule(
                    in_channels, channels, 3, stride=stride, padding=1, conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg, inplace=j < len(blocks_cfg) - 1))
                in_channels = channels
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
        self._set_stages(('conv1', ), [(f'layer{i + 1}', ) for i in range(4)], out_indices,
                         frozen_stages)
