# ReviewKD on ImageNet from a vision transformer, DeiT-S -> ResNet18. The paper has no such pair,
# so there is no published number for it. The recipe is the student's own config's (100 epochs,
# batch 8 x 32, SGD 0.1, momentum 0.9, weight decay 1e-4, lr x0.1 at 30/60/90), as in rkd's
# ResNet34 -> ResNet18 config; no warm-up of the distillation weight on ImageNet.
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py', '../_base_/rkd_runtime.py',
          '../_base_/rkd_default_hooks.py']

model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student={{_base_.model}},
    # mmpretrain's DeiT-S (deit-small_4xb256_in1k in its DeiT metafile: 80.69 top-1), a
    # VisionTransformer with one class token. It normalises its inputs as ResNet18 does.
    teacher=dict(
        config='mmpretrain::deit/deit-small_4xb256_in1k.py',
        checkpoint='https://download.openmmlab.com/mmclassification/v0/deit/deit-small_pt-4xb256_in1k_20220218-9425b9bb.pth'),  # noqa: E501
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # Five levels, as rkd's ResNet34 -> ResNet18 config: ResNet18's four stage outputs (64,
        # 128, 256, 512 channels at strides 4, 8, 16, 32) and its pooled embedding.
        student_recorders=[f'backbone.layer{i}' for i in (1, 2, 3, 4)] + ['neck'],
        # DeiT-S: the tokens of layers 3, 6 and 9 of 12, and those of the last layer through
        # the final norm (what the head reads), each recorded as a 384-channel map on the patch
        # grid (14 x 14 at 224 px: the class token dropped, see rkd.ModuleRecorder); then the
        # class token (the input of the head's classifier) as the embedding. The connector
        # resizes each student level to the teacher's 14 x 14.
        teacher_recorders=[f'backbone.layers.{i}' for i in (2, 5, 8)] + [
            'backbone.ln1', dict(source='head.layers.head', io='input')
        ],
        connector=dict(type='rkd.ABFConnector', mid_channels=512),  # the ResNet18 pair's
        # No paper weight exists for a transformer teacher: 1.0 is the paper's weight for the
        # same student and recipe (ResNet34 -> ResNet18), not tuned for this pair. The
        # transformer's token features are on another scale than a CNN's stage outputs, so a
        # different weight may do better.
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=1.0)),
    # The probe only reads the features' channels: a small image builds faster than 224 px (a
    # 4 x 4 patch grid at 64 px; the recorders follow the grid of each forward).
    probe_input_shape=(3, 64, 64))

# rkd's checkpoint and random-state hooks, merged into the base's
default_hooks = _base_.pop('rkd_default_hooks')
