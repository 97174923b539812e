# The classifier around every CIFAR-100 backbone: global average pooling, then one linear layer
# to the 100 classes, as in the CIFAR KD code bases. Each config in configs/cifar100/ adds its
# `backbone`, the head's `in_channels` (the embedding width) and the data preprocessor.
model = dict(
    type='ImageClassifier',
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
