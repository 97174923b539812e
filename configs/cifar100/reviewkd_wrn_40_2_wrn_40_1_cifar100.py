# ReviewKD on CIFAR-100, WRN-40-2 -> WRN-40-1. Paper: teacher 75.61, student 71.98, ReviewKD 75.09.
# The recipe is the student's own config's (240 epochs, batch 128). Train the teacher first
# (configs/cifar100/wrn_40_2_cifar100.py), and run from the repository root: the teacher's paths
# are relative to it.
_base_ = [
    './wrn_40_1_cifar100.py', '../_base_/teachers/cifar100_wrn_40_2.py',
    '../_base_/distillers/cifar100_reviewkd.py'
]

_base_.reviewkd.distiller.teacher_recorders = _base_.pop('teacher_recorders')
# Pre-activation blocks: the student's three stage outputs (the shared student recorders) are
# the raw residual sums, as in the official code, then the pooled embedding.
model = dict(
    _base_.pop('reviewkd'), _delete_=True, student=_base_.model, teacher=_base_.pop('teacher'))
