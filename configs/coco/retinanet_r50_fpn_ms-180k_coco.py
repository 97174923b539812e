# RetinaNet FPN with an ImageNet-pretrained ResNet50 (torchvision's, mmdet's default), trained
# alone with the paper's COCO recipe at its RetinaNet learning rate, 0.005 for 8 images: the
# student baseline of the ReviewKD R101 -> R50 pair.
_base_ = [
    '../_base_/schedules/coco_detection_ms-180k.py', 'mmdet::_base_/models/retinanet_r50_fpn.py'
]

optim_wrapper = dict(optimizer=dict(lr=0.005))
