# ReviewKD: resnet32 -> resnet8 on digits, same data and schedule as the student's own config
# (100 training images, 60 epochs); the teacher was trained on all 957.
# Train the teacher first (configs/digits/resnet32_digits.py), then point `checkpoint` at it:
#   --cfg-options model.teacher.checkpoint=work_dirs/resnet32_digits/epoch_30.pth
_base_ = ['./resnet8_digits.py', '../_base_/rkd_runtime.py']

model = dict(
    _delete_=True,
    type='rkd.SingleTeacherDistill',
    student={{_base_.model}},
    teacher=dict(
        config='{{fileDirname}}/resnet32_digits.py',
        checkpoint='work_dirs/resnet32_digits/epoch_30.pth'),
    distiller=dict(
        type='rkd.ReviewKDDistiller',
        # Three stage outputs and the pooled embedding, shallow -> deep. Student: after the
        # stage's last ReLU; teacher: before it (input of the last block's relu, last call;
        # resnet32 has 5 blocks a stage).
        student_recorders=['backbone.layer1', 'backbone.layer2', 'backbone.layer3', 'neck'],
        teacher_recorders=[
            dict(source=f'backbone.layer{i}.4.relu', io='input', call=-1) for i in (1, 2, 3)
        ] + ['neck'],
        connector=dict(type='rkd.ABFConnector'),
        # Chosen on the validation split (seeds 0-2) among 0.6 (the paper's weight for its
        # narrow CIFAR ResNets), 2.0, 5.0 (its wide pairs) and 10.0: configs/digits/README.md.
        loss=dict(type='rkd.HCLoss', loss_weight=5.0),
        # The paper's 20 of 240 epochs, scaled to this schedule.
        warmup=dict(length=5, by_epoch=True)),
    probe_input_shape=(3, 16, 16))
