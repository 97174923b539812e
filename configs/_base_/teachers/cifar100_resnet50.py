# The CIFAR-100 resnet50 teacher of the ReviewKD configs: trained by
# configs/cifar100/resnet50_cifar100.py, read from its last checkpoint (paths relative to the
# repository root).
teacher = dict(
    config='configs/cifar100/resnet50_cifar100.py',
    checkpoint='work_dirs/resnet50_cifar100/epoch_240.pth')

# The four stage outputs before the stage's last ReLU (the input of the last bottleneck's relu,
# last of its three calls) and the 2048-d embedding.
teacher_recorders = [
    dict(source=f'backbone.layer{i}.{block}.relu', io='input', call=-1)
    for i, block in zip((1, 2, 3, 4), (2, 3, 5, 2))
] + ['neck']
