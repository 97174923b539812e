# Faster R-CNN FPN with an ImageNet-pretrained ResNet18 (torchvision's, as mmdet's R18 configs),
# trained alone with the paper's COCO recipe: the student baseline of the ReviewKD R101 -> R18 pair.
_base_ = [
    '../_base_/schedules/coco_detection_ms-180k.py',
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py'
]

model = dict(
    backbone=dict(
        depth=18, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
    neck=dict(in_channels=[64, 128, 256, 512]))
