# Student: the CIFAR resnet8 (0.08M parameters) trained alone (the baseline) on 100 of the training
# digits (10 a class, stratified), 60 epochs: the same 240 steps of 32 images that the ReviewKD
# config trains it for. Few images leave room between the teacher and the student alone.
_base_ = ['../_base_/datasets/digits.py', './digits_runtime.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(type='rkd.CIFARResNet', depth=8),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
              loss=dict(type='CrossEntropyLoss')))

train_dataloader = dict(dataset=dict(num_train=100))
param_scheduler = dict(end=60)
train_cfg = dict(max_epochs=60, val_interval=20)
