# ReviewKD, ImageNet, ResNet34 -> ResNet18 (paper Table 4: teacher 73.31, student 69.75,
# ReviewKD 71.61). The student's own recipe is mmpretrain's: 100 epochs, batch 8 x 32, SGD 0.1,
# momentum 0.9, weight decay 1e-4, lr x0.1 at 30/60/90 -- the paper's.
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py']
custom_imports = dict(imports=['rkd'], allow_failed_imports=False)

# mmpretrain's ResNet34 (73.62 top-1); the paper used torchvision's weights (73.31).
teacher_checkpoint = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet34_8xb32_in1k_20210831-f257d4e6.pth'  # noqa: E501


def pre_activation(last_blocks):
    """Stage outputs before the stage's last ReLU: the input of the last block's relu (which
    the block calls twice, hence the last call)."""
    return [dict(source=f'backbone.layer{stage}.{block}.relu', io='input', call=-1)
            for stage, block in enumerate(last_blocks, start=1)]


model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student={{_base_.model}},
    teacher=dict(config='mmpretrain::resnet/resnet34_8xb32_in1k.py', checkpoint=teacher_checkpoint),
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # five levels for both: four pre-activation stage outputs and the pooled embedding
        student_recorders=pre_activation([1, 1, 1, 1]) + ['neck'],
        teacher_recorders=pre_activation([2, 3, 5, 2]) + ['neck'],
        connector=dict(type='rkd.ABFConnector', mid_channels=512),
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=1.0)),
    probe_input_shape=(3, 64, 64))

custom_hooks = [dict(type='rkd.StudentExportHook')]
