# ReviewKD on CIFAR-100, VGG13 -> MobileNetV2. Paper: teacher 74.64, student 64.60, ReviewKD 70.37.
# The recipe is the student's own config's (240 epochs, batch 128, lr 0.02: MobileNet and
# ShuffleNet students need the lower lr). Train the teacher first
# (configs/cifar100/vgg13_cifar100.py), and run from the repository root: the teacher's paths are
# relative to it.
_base_ = [
    './mobilenetv2_cifar100.py', '../_base_/teachers/cifar100_vgg13.py',
    '../_base_/distillers/cifar100_reviewkd_mobilenetv2.py'
]

_base_.reviewkd.distiller.teacher_recorders = _base_.pop('teacher_recorders')
# The loss weight, not given by the paper nor the official scripts, is the shared 5.0: the
# weight of all the paper's pairs of two families but resnet32x4 -> ShuffleNetV2 (8.0).
model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model, teacher=_base_.pop('teacher'))
