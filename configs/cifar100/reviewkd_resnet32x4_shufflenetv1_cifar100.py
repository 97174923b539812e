# ReviewKD on CIFAR-100, resnet32x4 -> ShuffleNetV1. Paper: teacher 79.42, student 70.50, ReviewKD
# 77.45. The recipe is the student's own config's (240 epochs, batch 128, lr 0.02: MobileNet and
# ShuffleNet students need the lower lr). Train the teacher first
# (configs/cifar100/resnet32x4_cifar100.py), and run from the repository root: the teacher's paths
# are relative to it.
_base_ = [
    './shufflenetv1_cifar100.py', '../_base_/teachers/cifar100_resnet32x4.py',
    '../_base_/distillers/cifar100_reviewkd.py'
]

_base_.reviewkd.distiller.teacher_recorders = _base_.pop('teacher_recorders')
# Four levels, one to one with the teacher's: the three stage outputs (240, 480, 960 channels on
# 16, 8, 4 maps; after ReLU) and the 960-d embedding (the shared student recorders). The
# connector maps them to the teacher's channels and map sizes.
model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model, teacher=_base_.pop('teacher'))
