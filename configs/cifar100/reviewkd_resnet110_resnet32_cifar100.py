# ReviewKD on CIFAR-100, resnet110 -> resnet32. Paper: teacher 74.31, student 71.14, ReviewKD
# 73.89. The recipe is the student's own config's (240 epochs, batch 128). Train the teacher first
# (configs/cifar100/resnet110_cifar100.py), and run from the repository root: the teacher's paths
# are relative to it.
_base_ = [
    './resnet32_cifar100.py', '../_base_/teachers/cifar100_resnet110.py',
    '../_base_/distillers/cifar100_reviewkd.py'
]

_base_.reviewkd.distiller.teacher_recorders = _base_.pop('teacher_recorders')
_base_.reviewkd.distiller.loss.loss_weight = 1.0
model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model, teacher=_base_.pop('teacher'))
