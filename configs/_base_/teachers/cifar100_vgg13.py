# The CIFAR-100 vgg13 teacher of the ReviewKD configs: trained by
# configs/cifar100/vgg13_cifar100.py, read from its last checkpoint (paths relative to the
# repository root).
teacher = dict(
    config='configs/cifar100/vgg13_cifar100.py',
    checkpoint='work_dirs/vgg13_cifar100/epoch_240.pth',
    # As the official ReviewKD CIFAR code, whose teacher is never put in eval mode: its BN
    # layers normalise with each batch's statistics (the paper's CIFAR numbers come from
    # that). The stored statistics stay untouched and dropout stays off. rkd's default,
    # `--cfg-options model.teacher.bn_mode=eval`, is the usual frozen teacher in eval mode.
    bn_mode='batch_stats')

# The stage outputs before the ReLU of the stage's last conv, and the embedding.
teacher_recorders = [
    dict(source=f'backbone.layer{i}.1.activate', io='input', call=-1) for i in (1, 2, 3, 4)
] + ['neck']
