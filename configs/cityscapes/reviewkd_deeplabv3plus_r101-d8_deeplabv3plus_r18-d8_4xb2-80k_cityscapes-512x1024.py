# ReviewKD on Cityscapes, DeepLabV3+ R101-d8 -> DeepLabV3+ R18-d8. mmseg: teacher 80.97, student
# 76.89 mIoU (single scale). ReviewKD has no segmentation recipe: this follows the segmentation
# distillation literature's Cityscapes practice (a ResNet101-d8 teacher, the same head on
# ResNet18-d8, 512x1024 crops; mmrazor's CWD configs of this pair) and keeps the student's own
# mmseg recipe unchanged, so its published baseline is the comparison: 80k iterations, batch
# 4 x 2, SGD lr 0.01 momentum 0.9 weight decay 5e-4, poly decay. No warm-up of the distillation
# weight (the paper warms up on CIFAR only).
_base_ = [
    'mmseg::deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    '../_base_/teachers/cityscapes_deeplabv3plus_r101-d8.py',
]
custom_imports = dict(imports=['rkd'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student={{_base_.model}},
    teacher={{_base_.teacher}},
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # The teacher's five levels (see its base): the four stage outputs before the stage's
        # last ReLU (ResNet18-d8: 64, 128, 256, 512 channels at strides 4, 8, 8, 8; the input of
        # the last basic block's relu, last of its two calls) and the head's separable
        # bottleneck before its last ReLU (128 channels, stride 4). The head's level is the
        # deepest of the chain but has layer1's size: its residual is resized down to layer4's.
        student_recorders=[
            dict(source=f'backbone.layer{i}.1.relu', io='input', call=-1) for i in (1, 2, 3, 4)
        ] + [dict(source='decode_head.sep_bottleneck.1.pointwise_conv.activate', io='input')],
        teacher_recorders={{_base_.teacher_recorders}},
        # 256 mid channels, the paper's choice for dense prediction (its detection recipe):
        # the default would be the deepest student level's 128.
        connector=dict(type='rkd.ABFConnector', mid_channels=256),
        # No segmentation weight is published. 1.0 is the paper's weight where it distills
        # ResNet stage outputs of a deeper into a shallower ResNet (ImageNet R34 -> R18, COCO
        # R101 -> R50); HCL is a mean over elements, so the map sizes do not scale it.
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=1.0)),
    # The probe only reads the features' channels: 64 px keeps every level above 1 pixel.
    probe_input_shape=(3, 64, 64))

# Stop at the first non-finite loss or gradient, before a non-finite checkpoint is written;
# export the student-only checkpoint (work_dir/student.pth) when training ends.
custom_hooks = [dict(type='rkd.NonFiniteGuardHook'), dict(type='rkd.StudentExportHook')]

# rkd's runtime hooks, merged into the base's (its checkpoint interval stays): a kill while saving
# leaves the previous checkpoint whole, and checkpoints carry the random states that an exact
# resume restores.
default_hooks = dict(checkpoint=dict(type='rkd.AtomicCheckpointHook'),
                     random_state=dict(type='rkd.RandomStateHook'))
