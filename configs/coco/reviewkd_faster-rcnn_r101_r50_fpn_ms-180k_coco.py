# ReviewKD on COCO, Faster R-CNN FPN: ResNet101 teacher -> ResNet50 student (paper, Table 5;
# HCL loss weight 1.0). The recipe is the student's own config's, the paper's: 180k iterations of 8
# images, lr 0.01, x0.1 at 120k and 160k, multi-scale training at 640-800
# (../_base_/schedules/coco_detection_ms-180k.py); no warm-up of the distillation weight.
# Features: the five FPN levels (P2-P6) of both networks, 256 channels each, ABF mid channels 256;
# the teacher runs only its backbone and neck.
_base_ = ['./faster-rcnn_r50_fpn_ms-180k_coco.py', '../_base_/distillers/coco_reviewkd.py']

model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model,
    # mmdet's faster-rcnn_r101_fpn_ms-3x_coco (box AP 41.8): a pytorch-style ResNet101, multi-scale
    # 3x: the model zoo counterpart of the paper's Detectron2 teacher (R101-FPN, multi-scale 3x).
    teacher=dict(
        config='mmdet::faster_rcnn/faster-rcnn_r101_fpn_ms-3x_coco.py',
        checkpoint='https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r101_fpn_mstrain_3x_coco/faster_rcnn_r101_fpn_mstrain_3x_coco_20210524_110822-4d4d2ca8.pth'))  # noqa: E501
