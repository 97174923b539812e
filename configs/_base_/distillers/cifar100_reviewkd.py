# The ReviewKD distillation every CIFAR-100 pair (configs/cifar100/reviewkd_*.py) shares: the
# paper's CIFAR recipe. A pair inherits this file beside its student's config and its teacher's
# (../teachers/), sets in `_base_.reviewkd` what differs (its teacher's recorders, and its own
# student recorders or loss weight) and makes it the model:
#     model = dict(_base_.pop('reviewkd'), _delete_=True, student=..., teacher=...)
# The MobileNetV2 pairs inherit cifar100_reviewkd_mobilenetv2.py instead: this file with the
# MobileNetV2 student's recorders. rkd's runtime (imports, hooks) comes with this file.
_base_ = ['../rkd_runtime.py']

reviewkd = dict(
    type='rkd.SingleTeacherDistill',
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # Three stage outputs (after the stage's last ReLU) and the pooled embedding.
        student_recorders=['backbone.layer1', 'backbone.layer2', 'backbone.layer3', 'neck'],
        connector=dict(type='rkd.ABFConnector'),  # mid channels: min(512, deepest student's)
        # 5.0: the paper's weight for most pairs
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=5.0),
        warmup=dict(length=20, by_epoch=True)),  # 0 -> full weight over the first 20 epochs
    probe_input_shape=(3, 32, 32))
