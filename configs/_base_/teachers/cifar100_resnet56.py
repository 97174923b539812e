# The CIFAR-100 resnet56 teacher of the ReviewKD configs: trained by
# configs/cifar100/resnet56_cifar100.py, read from its last checkpoint (paths relative to the
# repository root).
teacher = dict(
    config='configs/cifar100/resnet56_cifar100.py',
    checkpoint='work_dirs/resnet56_cifar100/epoch_240.pth',
    # As the official ReviewKD CIFAR code, whose teacher is never put in eval mode: its BN
    # layers normalise with each batch's statistics (the paper's CIFAR numbers come from
    # that). The stored statistics stay untouched and dropout stays off. rkd's default,
    # `--cfg-options model.teacher.bn_mode=eval`, is the usual frozen teacher in eval mode.
    bn_mode='batch_stats')

# The stage outputs before the stage's last ReLU (the input of the last block's relu, last of
# its two calls) and the pooled embedding.
teacher_recorders = [
    dict(source=f'backbone.layer{i}.8.relu', io='input', call=-1) for i in (1, 2, 3)
] + ['neck']
