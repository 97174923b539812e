# ReviewKD on CIFAR-100, resnet56 -> resnet20. Paper: teacher 72.34, student 69.06, ReviewKD 71.89.
# The recipe is the student's own config's (240 epochs, batch 128). Train the teacher first
# (configs/cifar100/resnet56_cifar100.py), and run from the repository root: the teacher's paths
# are relative to it.
_base_ = [
    './resnet20_cifar100.py', '../_base_/teachers/cifar100_resnet56.py',
    '../_base_/distillers/cifar100_reviewkd.py'
]

_base_.reviewkd.distiller.teacher_recorders = _base_.pop('teacher_recorders')
# The paper's weight (a reproduction used 0.7).
_base_.reviewkd.distiller.loss.loss_weight = 0.6
model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model, teacher=_base_.pop('teacher'))
