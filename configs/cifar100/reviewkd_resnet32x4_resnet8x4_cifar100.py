# ReviewKD on CIFAR-100, resnet32x4 -> resnet8x4. Paper: teacher 79.42, student 72.50, ReviewKD
# 75.63. The recipe is the student's own config's (240 epochs, batch 128). Train the teacher first
# (configs/cifar100/resnet32x4_cifar100.py), and run from the repository root: the teacher's paths
# are relative to it.
_base_ = [
    './resnet8x4_cifar100.py', '../_base_/teachers/cifar100_resnet32x4.py',
    '../_base_/distillers/cifar100_reviewkd.py'
]

_base_.reviewkd.distiller.teacher_recorders = _base_.pop('teacher_recorders')
model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model, teacher=_base_.pop('teacher'))
