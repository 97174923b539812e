# ReviewKD on COCO, Mask R-CNN FPN: ResNet50 teacher -> MobileNetV2 student (paper, Table 5;
# HCL loss weight 1.0). The recipe is the student's own config's, the paper's: 180k iterations of 8
# images, lr 0.01, x0.1 at 120k and 160k, multi-scale training at 640-800
# (../_base_/schedules/coco_instance_ms-poly-180k.py); no warm-up of the distillation weight.
# Features: the five FPN levels (P2-P6) of both networks, 256 channels each, ABF mid channels 256;
# the teacher runs only its backbone and neck.
_base_ = ['./mask-rcnn_mobilenetv2_fpn_ms-180k_coco.py', '../_base_/distillers/coco_reviewkd.py']

model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model,
    # mmdet's mask-rcnn_r50_fpn_mstrain-poly_3x_coco (config mask-rcnn_r50_fpn_ms-poly-3x_coco, box
    # AP 40.9, mask AP 37.1): a pytorch-style ResNet50, multi-scale 3x.
    teacher=dict(
        config='mmdet::mask_rcnn/mask-rcnn_r50_fpn_ms-poly-3x_coco.py',
        checkpoint='https://download.openmmlab.com/mmdetection/v2.0/mask_rcnn/mask_rcnn_r50_fpn_mstrain-poly_3x_coco/mask_rcnn_r50_fpn_mstrain-poly_3x_coco_20210524_201154-21b550bb.pth'))  # noqa: E501
