"""Model configs shared by the tests: a real mmpretrain pair at test cost."""


def tiny_classifier(base_channels: int, num_classes: int = 4) -> dict:
    """An mmpretrain CIFAR ResNet-18 with thin stages."""
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(num_classes=num_classes, mean=[127.5] * 3, std=[127.5] * 3),
        backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=base_channels,
                      out_indices=(0, 1, 2, 3)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=base_channels * 8,
                  loss=dict(type='CrossEntropyLoss')))


def reviewkd_algorithm(teacher_checkpoint=None, **distiller) -> dict:
    """ReviewKD on the tiny pair: 4 stages + the pooled embedding, teacher pre-activation."""
    # the neck pools every stage the backbone returns: the embedding is its last element
    embedding = dict(source='neck', element=-1)
    teacher_recorders = [
        dict(source=f'backbone.layer{i}.1.relu', io='input', call=-1) for i in range(1, 5)
    ] + [embedding]
    return dict(
        type='rkd.SingleTeacherDistill',
        student=tiny_classifier(base_channels=4),
        teacher=dict(config=tiny_classifier(base_channels=8), checkpoint=teacher_checkpoint),
        distiller=dict(type='rkd.ReviewKDDistiller', student_recorders=['backbone', embedding],
                       teacher_recorders=teacher_recorders,
                       loss=dict(type='rkd.HCLoss', loss_weight=1.0), **distiller),
        probe_input_shape=(3, 16, 16))
