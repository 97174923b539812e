# ReviewKD on COCO, Mask R-CNN FPN: ResNet101 teacher -> ResNet50 student (paper, Table 5;
# HCL loss weight 0.8). The recipe is the student's own config's, the paper's: 180k iterations of 8
# images, lr 0.01, x0.1 at 120k and 160k, multi-scale training at 640-800
# (../_base_/schedules/coco_instance_ms-poly-180k.py); no warm-up of the distillation weight.
# Features: the five FPN levels (P2-P6) of both networks, 256 channels each, ABF mid channels 256;
# the teacher runs only its backbone and neck.
_base_ = ['./mask-rcnn_r50_fpn_ms-180k_coco.py', '../_base_/distillers/coco_reviewkd.py']

_base_.reviewkd.distiller.loss.loss_weight = 0.8
model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model,
    # mmdet's mask-rcnn_r101-caffe_fpn_ms-poly-3x_coco (box AP 42.9, mask AP 38.5): a caffe-style
    # ResNet101 (Detectron2's ImageNet weights), multi-scale 3x, like the paper's Detectron2
    # teacher. Its config normalises caffe-style (BGR, mean only), the student pytorch-style: rkd
    # re-normalises the teacher's copy of each batch to the teacher's own mean, std and channel
    # order.
    teacher=dict(
        config='mmdet::mask_rcnn/mask-rcnn_r101-caffe_fpn_ms-poly-3x_coco.py',
        checkpoint='https://download.openmmlab.com/mmdetection/v2.0/mask_rcnn/mask_rcnn_r101_caffe_fpn_mstrain-poly_3x_coco/mask_rcnn_r101_caffe_fpn_mstrain-poly_3x_coco_20210526_132339-3c33ce02.pth'))  # noqa: E501
