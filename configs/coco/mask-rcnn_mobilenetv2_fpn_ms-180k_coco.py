# Mask R-CNN FPN with an ImageNet-pretrained MobileNetV2 (see
# ../_base_/models/coco_mobilenetv2_fpn.py), trained alone with the paper's COCO recipe: the
# student baseline of the ReviewKD R50 -> MobileNetV2 pair.
_base_ = [
    '../_base_/schedules/coco_instance_ms-poly-180k.py',
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/models/coco_mobilenetv2_fpn.py',
]

model = dict(_base_.pop('mobilenetv2_fpn'))
