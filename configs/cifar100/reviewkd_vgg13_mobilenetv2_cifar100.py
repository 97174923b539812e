# ReviewKD on CIFAR-100, VGG13 -> MobileNetV2. Paper: teacher 74.64, student 64.60, ReviewKD 70.37.
# The recipe is the student's own config's (240 epochs, batch 128, lr 0.02: MobileNet and
# ShuffleNet students need the lower lr). Train the teacher first
# (configs/cifar100/vgg13_cifar100.py), and run from the repository root: the teacher's paths are
# relative to it.
_base_ = ['./mobilenetv2_cifar100.py', '../_base_/teachers/cifar100_vgg13.py']
custom_imports = dict(imports=['rkd'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student={{_base_.model}},
    teacher={{_base_.teacher}},
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # Five levels, as in the official code: layers 2, 3, 5, 7 (12, 16, 48, 160 channels on 16,
        # 8, 4, 2 maps; a layer ends with a linear projection, so its output is already
        # pre-activation) and the 1280-d embedding.
        student_recorders=[f'backbone.layer{i}' for i in (2, 3, 5, 7)] + ['neck'],
        teacher_recorders={{_base_.teacher_recorders}},
        connector=dict(type='rkd.ABFConnector'),  # mid channels: min(512, deepest student's)
        # Not given by the paper nor the official scripts: 5.0, the weight of all the paper's
        # pairs of two families but resnet32x4 -> ShuffleNetV2 (8.0).
        loss=dict(type='rkd.HCLoss', levels=(4, 2, 1), loss_weight=5.0),
        warmup=dict(length=20, by_epoch=True)),  # 0 -> full weight over the first 20 epochs
    probe_input_shape=(3, 32, 32))

# Stop at the first non-finite loss or gradient, before a non-finite checkpoint is written;
# export the student-only checkpoint (work_dir/student.pth) when training ends.
custom_hooks = [dict(type='rkd.NonFiniteGuardHook'), dict(type='rkd.StudentExportHook')]
