# Faster R-CNN FPN with an ImageNet-pretrained ResNet50 (torchvision's, mmdet's default), trained
# alone with the paper's COCO recipe: the student baseline of the ReviewKD R101 -> R50 pair.
_base_ = [
    '../_base_/schedules/coco_detection_ms-180k.py',
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py'
]
