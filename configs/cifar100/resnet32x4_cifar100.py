# resnet32x4 (7.4M parameters): 79.42 top-1 in the CIFAR KD literature; the teacher of
# resnet8x4, ShuffleNetV1 and ShuffleNetV2.
# Trained alone with the paper's CIFAR-100 recipe: a teacher, or the student baseline.
_base_ = [
    '../_base_/models/cifar100_classifier.py', '../_base_/datasets/cifar100_bs128.py',
    '../_base_/schedules/cifar100_240e.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(type='rkd.CIFARResNet', depth=32, width_multiplier=4),
    head=dict(in_channels=256))
