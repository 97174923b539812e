# ReviewKD on ADE20K for transformers, SegFormer MiT-B4 -> MiT-B0. mmseg: teacher 48.46, student
# 37.41 mIoU (single scale). ReviewKD has no segmentation recipe: this keeps the student's own
# mmseg recipe unchanged, so its published baseline is the comparison: 160k iterations, batch
# 8 x 2, 512x512 crops, AdamW lr 6e-5 (head x10) with a 1500-iteration linear warm-up, then
# linear decay. No warm-up of the distillation weight (the paper warms up on CIFAR only).
_base_ = [
    'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
    '../_base_/teachers/ade20k_segformer_mit-b4.py',
    '../_base_/rkd_runtime.py',
    '../_base_/rkd_default_hooks.py',
]
# mmseg's path of the MiT-B0 ImageNet weights, a variable of its config that the student's
# init_cfg already holds: it would survive as a top-level key of no use.
_base_.pop('checkpoint')

model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student=_base_.model,
    teacher=_base_.pop('teacher'),
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # The four stage outputs of both MiT backbones (B0: 32, 64, 160, 256 channels; B4: 64,
        # 128, 320, 512; strides 4, 8, 16, 32), as ReviewKD takes a CNN's stages. MiT stages end
        # in a LayerNorm, not a ReLU: there is no pre-activation to choose.
        student_recorders=['backbone'],
        teacher_recorders=_base_.pop('teacher_recorders'),
        connector=dict(type='rkd.ABFConnector'),  # mid channels: the deepest student's 256
        # No segmentation weight is published. 1.0 is the paper's weight for distilling stage
        # outputs into a smaller network of the same family (ImageNet R34 -> R18, COCO
        # R101 -> R50); HCL is a mean over elements, so the map sizes do not scale it.
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=1.0)),
    # The probe only reads the features' channels: at 64 px the stride-32 stage is 2x2.
    probe_input_shape=(3, 64, 64))

# rkd's checkpoint and random-state hooks, merged into the base's
default_hooks = _base_.pop('rkd_default_hooks')
