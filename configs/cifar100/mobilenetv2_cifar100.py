# MobileNetV2 at width 0.5 (0.81M parameters; "mobile_half" of the CIFAR KD code bases): 64.60
# top-1 in the CIFAR KD literature; the student of VGG13 and ResNet50.
# Trained alone with the paper's CIFAR-100 recipe: a teacher, or the student baseline.
_base_ = [
    '../_base_/models/cifar100_classifier.py', '../_base_/datasets/cifar100_bs128.py',
    '../_base_/schedules/cifar100_240e.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(type='rkd.CIFARMobileNetV2', width_mult=0.5),
    head=dict(in_channels=1280))

# MobileNet and ShuffleNet need a lower learning rate to reproduce (0.02, as the official code).
optim_wrapper = dict(optimizer=dict(lr=0.02))
