# ResNet50 for CIFAR (23.7M parameters): 79.34 top-1 in the CIFAR KD literature; the teacher of
# MobileNetV2. rkd has no CIFAR ResNet50: this is mmpretrain's ResNet_CIFAR at depth 50, which is
# the same network as the CIFAR KD code bases' ResNet50 (RepDistiller's resnetv2.py): 3x3 stem of
# 64 without max-pool, bottlenecks 3-4-6-3 with the stride on the 3x3 conv, stages of 256, 512,
# 1024, 2048 channels on 32, 16, 8, 4 maps; initialised alike once mmpretrain's zero-init of the
# last BN of each block is turned off. Only the parameter names differ, so a RepDistiller
# checkpoint needs its keys renamed before it loads here.
# Trained alone with the paper's CIFAR-100 recipe.
_base_ = [
    '../_base_/models/cifar100_classifier.py', '../_base_/datasets/cifar100_bs128.py',
    '../_base_/schedules/cifar100_240e.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        type='ResNet_CIFAR',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        zero_init_residual=False),
    head=dict(in_channels=2048))
