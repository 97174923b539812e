# MobileNetV1 1.0 (4.2M parameters) on ImageNet, trained alone: the student baseline of
# ResNet50 -> MobileNet (paper Table 4: 68.87 top-1). The paper's ImageNet recipe is mmpretrain's
# ResNet one: 100 epochs, batch 256 (8 GPUs x 32), SGD lr 0.1, momentum 0.9, weight decay 1e-4,
# lr x0.1 at epochs 30, 60 and 90.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py'
]

model = dict(
    type='ImageClassifier',
    backbone=dict(type='rkd.MobileNetV1'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))

# rkd's runtime hooks, merged into the base's (its checkpoint interval stays): a kill while saving
# leaves the previous checkpoint whole, and checkpoints carry the random states that an exact
# resume restores.
default_hooks = dict(checkpoint=dict(type='rkd.AtomicCheckpointHook'),
                     random_state=dict(type='rkd.RandomStateHook'),
                     val_random_state=dict(type='rkd.ValRandomStateHook'))
