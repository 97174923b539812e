# ReviewKD on CIFAR-100, resnet110 -> resnet32. Paper: teacher 74.31, student 71.14, ReviewKD
# 73.89. The recipe is the student's own config's (240 epochs, batch 128). Train the teacher first
# (configs/cifar100/resnet110_cifar100.py), and run from the repository root: the teacher's paths
# are relative to it.
_base_ = ['./resnet32_cifar100.py', '../_base_/teachers/cifar100_resnet110.py']
custom_imports = dict(imports=['rkd'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student={{_base_.model}},
    teacher={{_base_.teacher}},
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # Three stage outputs (after the stage's last ReLU) and the pooled embedding.
        student_recorders=['backbone.layer1', 'backbone.layer2', 'backbone.layer3', 'neck'],
        teacher_recorders={{_base_.teacher_recorders}},
        connector=dict(type='rkd.ABFConnector'),  # mid channels: min(512, deepest student's)
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=1.0),
        warmup=dict(length=20, by_epoch=True)),  # 0 -> full weight over the first 20 epochs
    probe_input_shape=(3, 32, 32))

# Stop at the first non-finite loss or gradient, before a non-finite checkpoint is written;
# export the student-only checkpoint (work_dir/student.pth) when training ends.
custom_hooks = [dict(type='rkd.NonFiniteGuardHook'), dict(type='rkd.StudentExportHook')]
