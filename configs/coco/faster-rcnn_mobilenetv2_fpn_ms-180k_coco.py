# Faster R-CNN FPN with an ImageNet-pretrained MobileNetV2 (the checkpoint mmdet's MobileNetV2
# detectors start from), trained alone with the paper's COCO recipe: the student baseline of
# the ReviewKD R50 -> MobileNetV2 pair. FPN inputs: the last block of each stride, 4 to 32
# (24, 32, 96 and 320 channels). As the ResNets of mmdet's detectors, BN keeps its ImageNet
# statistics (norm_eval): 2 images per GPU are too few to estimate them.
_base_ = [
    '../_base_/schedules/coco_detection_ms-180k.py',
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        out_indices=(1, 2, 4, 6),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://mmdet/mobilenet_v2')),
    neck=dict(in_channels=[24, 32, 96, 320]))
