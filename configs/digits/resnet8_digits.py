# Student: the CIFAR resnet8 (0.08M parameters) on digits, trained alone (the baseline).
_base_ = ['../_base_/datasets/digits.py', './digits_runtime.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(type='rkd.CIFARResNet', depth=8),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
              loss=dict(type='CrossEntropyLoss')))
