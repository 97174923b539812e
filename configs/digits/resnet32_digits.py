# Teacher: the paper's CIFAR resnet32 (0.47M parameters), trained once on all 957 training digits
# (30 epochs): the large model trained on much data that distillation passes on to a small one.
_base_ = ['../_base_/datasets/digits.py', './digits_runtime.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(type='rkd.CIFARResNet', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
              loss=dict(type='CrossEntropyLoss')))
