# The classifier around every CIFAR-100 backbone: global average pooling, then one linear layer
# to the 100 classes, as in the CIFAR KD code bases. Each config in configs/cifar100/ adds its
# `backbone` and the head's `in_channels` (the embedding width).
model = dict(
    type='ImageClassifier',
    # CIFAR-100 training-set pixel mean and std (RGB, 0-255). The official ReviewKD code
    # normalises with CIFAR-10's statistics; the difference is small. In the model, not at the
    # top level: the Runner would push a top-level `data_preprocessor` into every model, the
    # distillation algorithm included.
    data_preprocessor=dict(
        num_classes=100,
        mean=[129.304, 124.070, 112.434],
        std=[68.170, 65.392, 70.418],
        to_rgb=False),  # mmpretrain's CIFAR100 already yields RGB
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
