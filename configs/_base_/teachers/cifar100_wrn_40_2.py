# The CIFAR-100 wrn_40_2 teacher of the ReviewKD configs: trained by
# configs/cifar100/wrn_40_2_cifar100.py, read from its last checkpoint (paths relative to the
# repository root).
teacher = dict(
    config='configs/cifar100/wrn_40_2_cifar100.py',
    checkpoint='work_dirs/wrn_40_2_cifar100/epoch_240.pth',
    # As the official ReviewKD CIFAR code, whose teacher is never put in eval mode: its BN
    # layers normalise with each batch's statistics (the paper's CIFAR numbers come from
    # that). The stored statistics stay untouched and dropout stays off. rkd's default,
    # `--cfg-options model.teacher.bn_mode=eval`, is the usual frozen teacher in eval mode.
    bn_mode='batch_stats')

# The stage outputs normalised by the BN that follows each, before its ReLU (the inputs of the
# next stage's first relu1 and of the final relu), and the pooled embedding.
teacher_recorders = [
    dict(source='backbone.layer2.0.relu1', io='input', call=-1),
    dict(source='backbone.layer3.0.relu1', io='input', call=-1),
    dict(source='backbone.relu', io='input', call=-1),
    'neck',
]
