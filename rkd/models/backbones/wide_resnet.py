"""Wide ResNets for CIFAR (WRN-16-1, 16-2, 40-1, 40-2 ...), pre-activation blocks."""
from typing import Optional, Sequence, Union

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import nn

from rkd.registry import MODELS

from .base import DEFAULT_INIT_CFG, StagedBackbone


class WideBasicBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus shortcut.

    ``relu1`` (not in-place) activates ``bn1(x)``: for a stage's first block that input is the
    previous stage's output after BN, i.e. the previous stage's pre-activation feature. When the
    channels change, the shortcut (1x1 conv) also takes the activated input, as in wrn.py.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = dict(type='BN')):
        super().__init__()
        self.bn1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.relu1 = nn.ReLU()
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, out_channels)[1]
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = build_conv_layer(
            conv_cfg, out_channels, out_channels, 3, padding=1, bias=False)
        self.shortcut = None
        if in_channels != out_channels:
            self.shortcut = build_conv_layer(
                conv_cfg, in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(act))))
        return out + (x if self.shortcut is None else self.shortcut(act))


@MODELS.register_module()
class WideResNet(StagedBackbone):
    """WRN-depth-k for 32x32 inputs as in CRD's RepDistiller (wrn.py): 3x3 stem conv of 16 (no
    BN), three stages of ``(depth - 4) / 6`` pre-activation blocks with 16k, 32k, 64k channels at
    strides 1, 2, 4 (maps 32, 16, 8), then BN-ReLU (``norm``, ``relu``) for the classifier.

    Pre-activation blocks leave a stage's output un-normalised and un-activated, so:

    - stage outputs 1, 2: ``layer1``, ``layer2`` outputs (raw residual sums, what the official
      ReviewKD code uses as student features); stage 3 (the backbone output) is
      ``relu(norm(layer3))``; its raw sum is the ``layer3`` output;
    - pre-activation (the teacher features of the official code, BN applied, before ReLU):
      stage 1: input of ``layer2.0.relu1``; stage 2: input of ``layer3.0.relu1``;
      stage 3: input of ``relu``. Each runs once per forward; none is in-place;
    - pooled embedding: ``neck`` output, 64k channels.

    Args:
        depth: 6n + 4 (16, 40, ...).
        widen_factor: k.
        out_indices: stages to return (0-based). Defaults to the last.
        frozen_stages: freeze the stem and stages ``0..frozen_stages-1`` (the last stage includes
            ``norm``); -1 freezes nothing.
        conv_cfg, norm_cfg: mmcv layer configs.
        norm_eval: keep BN layers in eval mode while training.
    """

    def __init__(self, depth: int, widen_factor: int = 1,
                 out_indices: Union[int, Sequence[int]] = (2, ), frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False, init_cfg: Union[dict, list, None] = DEFAULT_INIT_CFG):
        super().__init__(norm_eval, init_cfg)
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f'depth must be 6n + 4, got {depth}')
        num_blocks = (depth - 4) // 6
        self.conv1 = build_conv_layer(conv_cfg, 3, 16, 3, padding=1, bias=False)
        in_channels = 16
        for i, (channels, stride) in enumerate(zip((16, 32, 64), (1, 2, 2))):
            channels *= widen_factor
            blocks = [
                WideBasicBlock(in_channels if j == 0 else channels, channels,
                               stride if j == 0 else 1, conv_cfg, norm_cfg)
                for j in range(num_blocks)
            ]
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
            in_channels = channels
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        self.relu = nn.ReLU()
        self._set_stages(('conv1', ), [('layer1', ), ('layer2', ), ('layer3', 'norm', 'relu')],
                         out_indices, frozen_stages)
