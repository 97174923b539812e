# Variant of reviewkd_resnet34_resnet18_in1k.py with the wiring the paper describes: the four
# stage outputs before the stage's last ReLU (the input of the last block's relu, last of its two
# calls) for both networks, and the pooled embedding. The official ImageNet code meant this but
# computed the post-ReLU stage outputs (an in-place ReLU overwrites them), and the paper's 71.61
# was measured with those: this variant has no published number.
_base_ = ['./reviewkd_resnet34_resnet18_in1k.py']

model = dict(
    distiller=dict(
        # Last blocks: 1, 1, 1, 1 (ResNet18), 2, 3, 5, 2 (ResNet34).
        student_recorders=[
            dict(source=f'backbone.layer{i}.1.relu', io='input', call=-1) for i in (1, 2, 3, 4)
        ] + ['neck'],
        teacher_recorders=[
            dict(source=f'backbone.layer{i}.{block}.relu', io='input', call=-1)
            for i, block in zip((1, 2, 3, 4), (2, 3, 5, 2))
        ] + ['neck']))
