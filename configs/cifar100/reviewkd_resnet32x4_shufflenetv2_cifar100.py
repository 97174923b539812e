# ReviewKD on CIFAR-100, resnet32x4 -> ShuffleNetV2. Paper: teacher 79.42, student 71.82, ReviewKD
# 77.78. The recipe is the student's own config's (240 epochs, batch 128, lr 0.02: MobileNet and
# ShuffleNet students need the lower lr). Train the teacher first
# (configs/cifar100/resnet32x4_cifar100.py), and run from the repository root: the teacher's paths
# are relative to it.
_base_ = ['./shufflenetv2_cifar100.py', '../_base_/teachers/cifar100_resnet32x4.py']
custom_imports = dict(imports=['rkd'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student={{_base_.model}},
    teacher={{_base_.teacher}},
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # Four levels, one to one with the teacher's: the three stage outputs (116, 232, 464
        # channels on 16, 8, 4 maps; after ReLU) and the 1024-d embedding (after conv2). The
        # connector maps them to the teacher's channels and map sizes.
        student_recorders=['backbone.layer1', 'backbone.layer2', 'backbone.layer3', 'neck'],
        teacher_recorders={{_base_.teacher_recorders}},
        connector=dict(type='rkd.ABFConnector'),  # mid channels: min(512, deepest student's)
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=8.0),
        warmup=dict(length=20, by_epoch=True)),  # 0 -> full weight over the first 20 epochs
    probe_input_shape=(3, 32, 32))

# Stop at the first non-finite loss or gradient, before a non-finite checkpoint is written;
# export the student-only checkpoint (work_dir/student.pth) when training ends.
custom_hooks = [dict(type='rkd.NonFiniteGuardHook'), dict(type='rkd.StudentExportHook')]
