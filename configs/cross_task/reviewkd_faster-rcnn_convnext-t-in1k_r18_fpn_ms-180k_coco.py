# Cross-task ReviewKD on COCO: an ImageNet classifier teaches a detector. The teacher is the
# backbone of mmpretrain's ConvNeXt-T classifier (convnext-tiny_32xb128_in1k, 82.14 top-1), its
# classification head left out (headless=True); the student is Faster R-CNN FPN with an
# ImageNet-pretrained ResNet18. The paper has no such pair: there is no published number, and
# the loss weight is not tuned. The recipe is the student's own config's, the paper's COCO recipe
# (../coco/faster-rcnn_r18_fpn_ms-180k_coco.py: 180k iterations of 8 images, lr 0.01, x0.1 at
# 120k and 160k, multi-scale training at 640-800); no warm-up of the distillation weight.
_base_ = ['../coco/faster-rcnn_r18_fpn_ms-180k_coco.py', '../_base_/rkd_runtime.py']

model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student=_base_.model,
    # The classification run's config and checkpoint, as mmpretrain's metafile names them: its
    # backbone.* entries load (strictly), its head.* entries are left out. Both networks
    # normalise with ImageNet's mean and std in RGB: the teacher takes the student's batch.
    teacher=dict(
        config='mmpretrain::convnext/convnext-tiny_32xb128_in1k.py',
        headless=True,
        checkpoint='https://download.openmmlab.com/mmclassification/v0/convnext/convnext-tiny_32xb128_in1k_20221207-998cf3e9.pth'),  # noqa: E501
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # The levels 'auto' pairs by stride: the student's FPN levels P2-P5 (256 channels at
        # strides 4, 8, 16, 32) with ConvNeXt-T's four stage outputs (96, 192, 384, 768
        # channels at the same strides). P6 has no teacher level of its stride, the teacher's
        # pooled embedding no student level: both are left out.
        student_recorders=[dict(source='neck', element=i) for i in range(4)],
        teacher_recorders=[f'backbone.stages.{i}' for i in range(4)],
        connector=dict(type='rkd.ABFConnector', mid_channels=256),  # the COCO pairs'
        # The paper's COCO weight for a ResNet50 student (1.0), not tuned for this pair.
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=1.0)),
    # The probe only reads the features' channels: at 64 px the stride-32 level is 2x2.
    probe_input_shape=(3, 64, 64))
