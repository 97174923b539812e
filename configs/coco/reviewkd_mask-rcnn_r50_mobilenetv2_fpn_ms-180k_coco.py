# ReviewKD on COCO, Mask R-CNN FPN: ResNet50 teacher -> MobileNetV2 student (paper, Table 5;
# HCL loss weight 1.0). The recipe is the student's own config's, the paper's: 180k iterations of 8
# images, lr 0.01, x0.1 at 120k and 160k, multi-scale training at 640-800
# (../_base_/schedules/coco_instance_ms-poly-180k.py); no warm-up of the distillation weight.
# Features: the five FPN levels (P2-P6) of both networks, 256 channels each, ABF mid channels 256;
# the teacher runs only its backbone and neck.
_base_ = ['./mask-rcnn_mobilenetv2_fpn_ms-180k_coco.py']
custom_imports = dict(imports=['rkd'], allow_failed_imports=False)

# mmdet's mask-rcnn_r50_fpn_mstrain-poly_3x_coco (config mask-rcnn_r50_fpn_ms-poly-3x_coco, box
# AP 40.9, mask AP 37.1): a pytorch-style ResNet50, multi-scale 3x.
teacher_checkpoint = 'https://download.openmmlab.com/mmdetection/v2.0/mask_rcnn/mask_rcnn_r50_fpn_mstrain-poly_3x_coco/mask_rcnn_r50_fpn_mstrain-poly_3x_coco_20210524_201154-21b550bb.pth'  # noqa: E501

model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student={{_base_.model}},
    teacher=dict(
        config='mmdet::mask_rcnn/mask-rcnn_r50_fpn_ms-poly-3x_coco.py',
        checkpoint=teacher_checkpoint),
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # an FPN returns its levels as one tuple: each recorder yields all five, shallow -> deep
        student_recorders=['neck'],
        teacher_recorders=['neck'],
        connector=dict(type='rkd.ABFConnector', mid_channels=256),
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=1.0)))

# Stop at the first non-finite loss or gradient, before a non-finite checkpoint is written;
# export the student-only checkpoint (work_dir/student.pth) when training ends.
custom_hooks = [dict(type='rkd.NonFiniteGuardHook'), dict(type='rkd.StudentExportHook')]
