# Cross-task ReviewKD on ADE20K: an ImageNet classifier's backbone teaches a segmentor. The
# teacher is ConvNeXt-T given as a backbone alone, with the checkpoint of mmpretrain's
# classification run (convnext-tiny_32xb128_in1k, 82.14 top-1); the student is SegFormer MiT-B0
# (mmseg: 37.41 mIoU alone). The paper has no such pair: there is no published number, and the
# loss weight is not tuned. The recipe is the student's own mmseg recipe, unchanged: 160k
# iterations, batch 8 x 2, 512x512 crops, AdamW lr 6e-5 (head x10) with a 1500-iteration linear
# warm-up, then linear decay; no warm-up of the distillation weight.
_base_ = [
    'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
    '../_base_/rkd_runtime.py',
    '../_base_/rkd_default_hooks.py',
]

model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student={{_base_.model}},
    # A backbone dict, as a classification config writes it, and how that run normalised its
    # images (ImageNet's mean and std, RGB: as the student's). The checkpoint is the whole
    # classifier's: its backbone.* entries load (strictly), its head.* entries are left out; a
    # bare backbone state dict would load too.
    teacher=dict(
        backbone=dict(type='mmpretrain.ConvNeXt', arch='tiny'),
        data_preprocessor=dict(
            mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
        checkpoint='https://download.openmmlab.com/mmclassification/v0/convnext/convnext-tiny_32xb128_in1k_20221207-998cf3e9.pth'),  # noqa: E501
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # The levels 'auto' pairs by stride: MiT-B0's four stage outputs (32, 64, 160, 256
        # channels) with ConvNeXt-T's (96, 192, 384, 768), both at strides 4, 8, 16, 32; the
        # teacher's pooled embedding has no student level and is left out.
        student_recorders=['backbone'],
        teacher_recorders=[f'backbone.stages.{i}' for i in range(4)],
        connector=dict(type='rkd.ABFConnector'),  # mid channels: the deepest student's 256
        # The paper's weight for stage outputs into a smaller network (ImageNet R34 -> R18),
        # not tuned for this pair.
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=1.0)),
    # The probe only reads the features' channels: at 64 px the stride-32 stage is 2x2.
    probe_input_shape=(3, 64, 64))

# rkd's checkpoint and random-state hooks, merged into the base's
default_hooks = _base_.pop('rkd_default_hooks')
