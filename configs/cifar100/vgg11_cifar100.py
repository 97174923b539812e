# VGG11 with BN (9.3M parameters).
# Trained alone with the paper's CIFAR-100 recipe: a teacher, or the student baseline.
_base_ = [
    '../_base_/models/cifar100_classifier.py', '../_base_/datasets/cifar100_bs128.py',
    '../_base_/schedules/cifar100_240e.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(type='rkd.CIFARVGG', depth=11),
    head=dict(in_channels=512))
