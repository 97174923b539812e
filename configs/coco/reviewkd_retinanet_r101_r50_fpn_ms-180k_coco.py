# ReviewKD on COCO, RetinaNet FPN: ResNet101 teacher -> ResNet50 student (paper, Table 5;
# HCL loss weight 1.0). The recipe is the student's own config's, the paper's: 180k iterations of 8
# images, lr 0.005, x0.1 at 120k and 160k, multi-scale training at 640-800
# (../_base_/schedules/coco_detection_ms-180k.py); no warm-up of the distillation weight.
# Features: the five FPN levels (P3-P7) of both networks, 256 channels each, ABF mid channels 256;
# the teacher runs only its backbone and neck.
_base_ = ['./retinanet_r50_fpn_ms-180k_coco.py', '../_base_/distillers/coco_reviewkd.py']

model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model,
    # mmdet's retinanet_r101_fpn_ms-640-800-3x_coco (box AP 41.0): a pytorch-style ResNet101,
    # multi-scale 640-800 3x.
    teacher=dict(
        config='mmdet::retinanet/retinanet_r101_fpn_ms-640-800-3x_coco.py',
        checkpoint='https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r101_fpn_mstrain_3x_coco/retinanet_r101_fpn_mstrain_3x_coco_20210720_214650-7ee888e0.pth'))  # noqa: E501
