# ShuffleNetV2 1x (1.4M parameters): 71.82 top-1 in the CIFAR KD literature; the student of
# resnet32x4.
# Trained alone with the paper's CIFAR-100 recipe: a teacher, or the student baseline.
_base_ = [
    '../_base_/models/cifar100_classifier.py', '../_base_/datasets/cifar100_bs128.py',
    '../_base_/schedules/cifar100_240e.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(type='rkd.CIFARShuffleNetV2'),
    head=dict(in_channels=1024))

# MobileNet and ShuffleNet need a lower learning rate to reproduce (0.02, as the official code).
optim_wrapper = dict(optimizer=dict(lr=0.02))
