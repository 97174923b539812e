# Variant of reviewkd_resnet50_mobilenetv1_in1k.py with the teacher wiring the paper describes:
# the ResNet50's four stage outputs before the stage's last ReLU (the input of the last
# bottleneck's relu, last of its three calls), and the pooled embedding; the MobileNetV1 student
# is recorded as in the base config. The official ImageNet code meant this but computed the
# post-ReLU stage outputs (an in-place ReLU overwrites them), and the paper's 72.56 was measured
# with those: this variant has no published number.
_base_ = ['./reviewkd_resnet50_mobilenetv1_in1k.py']

model = dict(
    distiller=dict(
        teacher_recorders=[
            dict(source=f'backbone.layer{i}.{block}.relu', io='input', call=-1)
            for i, block in zip((1, 2, 3, 4), (2, 3, 5, 2))
        ] + ['neck']))
