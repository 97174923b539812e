# The ReviewKD distillation every Cityscapes pair (configs/cityscapes/reviewkd_*.py) shares. A pair
# inherits this file beside its student's mmseg config and its teacher's (../teachers/), sets its
# teacher's recorders (and, if its head differs, the student's last recorder) in
# `_base_.reviewkd` and makes it the model:
#     model = dict(_base_.pop('reviewkd'), _delete_=True, student=..., teacher=...)
# rkd's runtime (imports, hooks) comes with this file; the pair merges its default hooks into
# its student's: default_hooks = _base_.pop('rkd_default_hooks').
_base_ = ['../rkd_runtime.py', '../rkd_default_hooks.py']

reviewkd = dict(
    type='rkd.SingleTeacherDistill',
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # Five levels, as the teacher's (see its base): the four ResNet18-d8 stage outputs before
        # the stage's last ReLU (64, 128, 256, 512 channels at strides 4, 8, 8, 8; the input of
        # the last basic block's relu, last of its two calls) and the decode head's bottleneck
        # before its ReLU (stride 8). Several levels share one size: ABF fuses them unresized.
        student_recorders=[
            dict(source=f'backbone.layer{i}.1.relu', io='input', call=-1) for i in (1, 2, 3, 4)
        ] + [dict(source='decode_head.bottleneck.activate', io='input')],
        # 256 mid channels, the paper's choice for dense prediction (its detection recipe):
        # the default would be the deepest student level's 128.
        connector=dict(type='rkd.ABFConnector', mid_channels=256),
        # No segmentation weight is published. 1.0 is the paper's weight where it distills
        # ResNet stage outputs of a deeper into a shallower ResNet (ImageNet R34 -> R18, COCO
        # R101 -> R50); HCL is a mean over elements, so the 1/8-resolution maps do not scale it.
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=1.0)),
    # The probe only reads the features' channels: 64 px keeps every level above 1 pixel.
    probe_input_shape=(3, 64, 64))
