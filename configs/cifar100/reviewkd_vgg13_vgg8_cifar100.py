# ReviewKD on CIFAR-100, VGG13 -> VGG8. Paper: teacher 74.64, student 70.36, ReviewKD 74.84. The
# recipe is the student's own config's (240 epochs, batch 128). Train the teacher first
# (configs/cifar100/vgg13_cifar100.py), and run from the repository root: the teacher's paths are
# relative to it.
_base_ = ['./vgg8_cifar100.py', '../_base_/teachers/cifar100_vgg13.py']
custom_imports = dict(imports=['rkd'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student={{_base_.model}},
    teacher={{_base_.teacher}},
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # Five levels, as in the official VGG code: the four stage outputs (after ReLU) and the
        # embedding.
        student_recorders=[f'backbone.layer{i}' for i in (1, 2, 3, 4)] + ['neck'],
        teacher_recorders={{_base_.teacher_recorders}},
        connector=dict(type='rkd.ABFConnector'),  # mid channels: min(512, deepest student's)
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=5.0),
        warmup=dict(length=20, by_epoch=True)),  # 0 -> full weight over the first 20 epochs
    probe_input_shape=(3, 32, 32))

# Stop at the first non-finite loss or gradient, before a non-finite checkpoint is written;
# export the student-only checkpoint (work_dir/student.pth) when training ends.
custom_hooks = [dict(type='rkd.NonFiniteGuardHook'), dict(type='rkd.StudentExportHook')]
