# ReviewKD on Cityscapes, PSPNet R101-d8 -> PSPNet R18-d8. mmseg: teacher 79.76, student 74.87
# mIoU (single scale). ReviewKD has no segmentation recipe: this follows the segmentation
# distillation literature's Cityscapes practice (a ResNet101-d8 teacher, the same head on
# ResNet18-d8, 512x1024 crops; mmrazor's CWD configs of this pair) and keeps the student's own
# mmseg recipe unchanged, so its published baseline is the comparison: 80k iterations, batch
# 4 x 2, SGD lr 0.01 momentum 0.9 weight decay 5e-4, poly decay. No warm-up of the distillation
# weight (the paper warms up on CIFAR only).
_base_ = [
    'mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    '../_base_/teachers/cityscapes_pspnet_r101-d8.py',
    '../_base_/distillers/cityscapes_reviewkd.py',
]

_base_.reviewkd.distiller.teacher_recorders = _base_.pop('teacher_recorders')
model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model, teacher=_base_.pop('teacher'))

# rkd's checkpoint and random-state hooks, merged into the base's
default_hooks = _base_.pop('rkd_default_hooks')
