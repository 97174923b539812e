# The ReviewKD distillation of the CIFAR-100 pairs with a MobileNetV2 student: the shared one
# (cifar100_reviewkd.py) on five student levels, as in the official code: layers 2, 3, 5, 7 (12,
# 16, 48, 160 channels on 16, 8, 4, 2 maps; a layer ends with a linear projection, so its output
# is already pre-activation) and the 1280-d embedding.
_base_ = './cifar100_reviewkd.py'

reviewkd = dict(
    distiller=dict(
        student_recorders=[f'backbone.layer{i}' for i in (2, 3, 5, 7)] + ['neck']))
