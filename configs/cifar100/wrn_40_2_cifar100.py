# WRN-40-2 (2.2M parameters): 75.61 top-1 in the CIFAR KD literature; the teacher of
# WRN-16-2, WRN-40-1 and ShuffleNetV1.
# Trained alone with the paper's CIFAR-100 recipe: a teacher, or the student baseline.
_base_ = [
    '../_base_/models/cifar100_classifier.py', '../_base_/datasets/cifar100_bs128.py',
    '../_base_/schedules/cifar100_240e.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(type='rkd.WideResNet', depth=40, widen_factor=2),
    head=dict(in_channels=128))
