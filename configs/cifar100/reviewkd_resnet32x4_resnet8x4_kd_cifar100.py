# A variant of reviewkd_resnet32x4_resnet8x4_cifar100.py with two distillation losses: ReviewKD's
# HCL on the ABF outputs (weight 5.0, the paper's) plus Hinton's logit KD (rkd.KDLoss) between the
# two classifier heads' logits, temperature 4 and weight 1.0 (the usual CIFAR-100 KD settings of
# the distillation literature). The paper reports no number for this combination. Both losses
# share the 20-epoch warm-up and are logged apart (loss_reviewkd, loss_kd).
_base_ = ['./reviewkd_resnet32x4_resnet8x4_cifar100.py']

model = dict(
    distiller=dict(
        extra_losses=dict(
            loss_kd=dict(type='rkd.KDLoss', temperature=4.0, loss_weight=1.0,
                         student='head.fc', teacher='head.fc'))))
