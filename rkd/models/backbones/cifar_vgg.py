"""VGG with BN for CIFAR (vgg8 ... vgg19), the fully connected layers removed."""
from typing import Optional, Sequence, Union

from mmcv.cnn import ConvModule
from torch import nn

from rkd.registry import MODELS

from .base import DEFAULT_INIT_CFG, StagedBackbone


@MODELS.register_module()
class CIFARVGG(StagedBackbone):
    """VGG-BN for 32x32 inputs as in CRD's RepDistiller (vgg.py, ``vgg{depth}_bn``).

    Five blocks of 3x3 conv-BN-ReLU: the first (64 channels, 32x32) is the ``stem``; the others
    are stages ``layer1..layer4`` with 128, 256, 512, 512 channels on 16, 8, 4, 4 maps; ``maxpool``
    precedes layers 1-3 (none precedes layer 4 at 32 px). The official ReviewKD VGG features are
    the four stage outputs and the pooled embedding (five levels). The convs carry no bias:
    RepDistiller's biases sit right before BN, which cancels them.

    Feature points, stage ``i`` in 1..4, ``m`` = convs in the stage (8: 1, 11: 1, 1, 2, 2,
    13: 2, 16: 2, 3, 3, 3, 19: 2, 4, 4, 4):

    - stage output: ``layer{i}`` output (after ReLU);
    - pre-activation: input of ``layer{i}.{m-1}.activate`` (one call, not in-place);
    - pooled embedding: ``neck`` output, 512 channels.

    Args:
        depth: 8, 11, 13, 16 or 19.
        out_indices: stages to return (0-based). Defaults to the last.
        frozen_stages: freeze the stem and stages ``0..frozen_stages-1``; -1 freezes nothing.
        conv_cfg, norm_cfg: mmcv layer configs.
        norm_eval: keep BN layers in eval mode while training.
    """

    arch_settings = {
        8: ((64, ), (128, ), (256, ), (512, ), (512, )),
        11: ((64, ), (128, ), (256, 256), (512, 512), (512, 512)),
        13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
        16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
        19: ((64, 64), (128, 128), (256, ) * 4, (512, ) * 4, (512, ) * 4),
    }

    def __init__(self, depth: int, out_indices: Union[int, Sequence[int]] = (3, ),
                 frozen_stages: int = -1, conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'), norm_eval: bool = False,
                 init_cfg: Union[dict, list, None] = DEFAULT_INIT_CFG):
        super().__init__(norm_eval, init_cfg)
        if depth not in self.arch_settings:
            raise ValueError(f'depth must be one of {tuple(self.arch_settings)}, got {depth}')
        in_channels = 3
        for name, widths in zip(('stem', 'layer1', 'layer2', 'layer3', 'layer4'),
                                self.arch_settings[depth]):
            convs = []
            for j, channels in enumerate(widths):
                # The ReLU ending a block is a feature point: not in-place.
                convs.append(ConvModule(in_channels, channels, 3, padding=1, conv_cfg=conv_cfg,
                                        norm_cfg=norm_cfg, inplace=j < len(widths) - 1))
                in_channels = channels
            self.add_module(name, nn.Sequential(*convs))
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        self._set_stages(('stem', ), [('maxpool', 'layer1'), ('maxpool', 'layer2'),
                                      ('maxpool', 'layer3'), ('layer4', )],
                         out_indices, frozen_stages)
