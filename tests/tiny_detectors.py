"""mmdet's own detector configs, shrunk to test cost: a thin ResNet-18, a thin FPN, light heads.

Built in the mmdet scope (``mmdet_scope`` fixture or ``default_scope='mmdet'``); no pretrained
weights are loaded.
"""
import copy
from functools import lru_cache

from mmengine.config import ConfigDict
from mmengine.hub import get_config

CONFIGS = {
    'faster_rcnn': 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    'mask_rcnn': 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    'retinanet': 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    'fcos': 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',  # caffe-style normalisation
    'atss': 'mmdet::atss/atss_r50_fpn_1x_coco.py',
}


@lru_cache(maxsize=None)
def _model_of(config: str) -> ConfigDict:
    return get_config(config).model


def tiny_detector(kind: str, width: int = 8, channels: int = 16,
                  num_classes: int = 2) -> ConfigDict:
    """The model of mmdet's ``kind`` config with a ResNet-18 of ``width`` base channels and an
    FPN (and heads) of ``channels``."""
    model = copy.deepcopy(_model_of(CONFIGS[kind]))
    model['backbone'].update(depth=18, base_channels=width, init_cfg=None)
    model['neck'].update(in_channels=[width * 2**i for i in range(4)], out_channels=channels)
    if 'rpn_head' in model:
        model['rpn_head'].update(in_channels=channels, feat_channels=channels)
    if 'bbox_head' in model:
        head = model['bbox_head']
        head.update(in_channels=channels, feat_channels=channels, stacked_convs=1,
                    num_classes=num_classes)
        if head.type in ('FCOSHead', 'ATSSHead'):  # GroupNorm heads, 32 groups by default
            head['norm_cfg'] = dict(type='GN', num_groups=4, requires_grad=True)
    roi = model.get('roi_head')
    if roi is not None:
        roi['bbox_roi_extractor']['out_channels'] = channels
        roi['bbox_head'].update(in_channels=channels, fc_out_channels=2 * channels,
                                num_classes=num_classes)
        if 'mask_head' in roi:
            roi['mask_roi_extractor']['out_channels'] = channels
            roi['mask_head'].update(in_channels=channels, conv_out_channels=channels,
                                    num_convs=1, num_classes=num_classes)
    return model
