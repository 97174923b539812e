# ReviewKD on CIFAR-100, VGG13 -> VGG8. Paper: teacher 74.64, student 70.36, ReviewKD 74.84. The
# recipe is the student's own config's (240 epochs, batch 128). Train the teacher first
# (configs/cifar100/vgg13_cifar100.py), and run from the repository root: the teacher's paths are
# relative to it.
_base_ = [
    './vgg8_cifar100.py', '../_base_/teachers/cifar100_vgg13.py',
    '../_base_/distillers/cifar100_reviewkd.py'
]

_base_.reviewkd.distiller.teacher_recorders = _base_.pop('teacher_recorders')
# Five levels, as in the official VGG code: the four stage outputs (after ReLU) and the
# embedding.
_base_.reviewkd.distiller.student_recorders = [
    f'backbone.layer{i}' for i in (1, 2, 3, 4)
] + ['neck']
model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model, teacher=_base_.pop('teacher'))
