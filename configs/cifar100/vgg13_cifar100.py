# VGG13 with BN (9.5M parameters): 74.64 top-1 in the CIFAR KD literature; the teacher of VGG8
# and MobileNetV2.
# Trained alone with the paper's CIFAR-100 recipe: a teacher, or the student baseline.
_base_ = [
    '../_base_/models/cifar100_classifier.py', '../_base_/datasets/cifar100_bs128.py',
    '../_base_/schedules/cifar100_240e.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(type='rkd.CIFARVGG', depth=13),
    head=dict(in_channels=512))
