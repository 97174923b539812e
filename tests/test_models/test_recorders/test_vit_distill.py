"""ReviewKD between a ViT and a CNN, either way: the ViT layers are named as any module, and their
tokens reach the connector as maps on the patch grid."""
import math

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from rkd.registry import MODELS

from helpers import tiny_classifier

# 32 px images in 8 px patches: a 4 x 4 grid
VIT_ARCH = dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64)


def vit_classifier(backbone: str, head: str) -> dict:
    """A 4-layer ViT on 32 px images, as mmpretrain's DeiT configs (neck None, cls head)."""
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(num_classes=4, mean=[127.5] * 3, std=[127.5] * 3),
        backbone=dict(type=backbone, arch=VIT_ARCH, img_size=32, patch_size=8),
        neck=None,
        head=dict(type=head, num_classes=4, in_channels=32))


# Layers 1, 2, 3 (the last through the final norm) as maps, then the class token the head reads.
VIT_RECORDERS = ['backbone.layers.1', 'backbone.layers.2', 'backbone.ln1',
                 dict(source='head.layers.head', io='input')]
# The CNN's last three stages and its pooled embedding (the neck pools every stage: the last).
CNN_RECORDERS = ['backbone.layer2', 'backbone.layer3', 'backbone.layer4',
                 dict(source='neck', element=-1)]


def batch(n: int = 2, size: int = 32) -> dict:
    return dict(inputs=[torch.randint(0, 256, (3, size, size), dtype=torch.uint8)
                        for _ in range(n)],
                data_samples=[DataSample().set_gt_label(i % 4) for i in range(n)])


def distill(student: dict, teacher: dict, student_recorders, teacher_recorders) -> dict:
    return dict(
        type='rkd.SingleTeacherDistill', student=student,
        teacher=dict(config=teacher, checkpoint=None),
        distiller=dict(type='rkd.ReviewKDDistiller', student_recorders=student_recorders,
                       teacher_recorders=teacher_recorders,
                       connector=dict(type='rkd.ABFConnector', mid_channels=16)),
        probe_input_shape=(3, 32, 32))


def train_one_step(model) -> dict:
    model.train()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    log_vars = model.train_step(batch(), optim)
    assert math.isfinite(log_vars['loss']) and log_vars['loss_reviewkd'] > 0
    assert all(p.grad is None for p in model.teacher.parameters())
    return log_vars


def probe_shapes(model, size: int = 32):
    student, teacher = model.probe_features(torch.randn(2, 3, size, size))
    return [tuple(f.shape) for f in student], [tuple(f.shape) for f in teacher]


@pytest.mark.filterwarnings('ignore:MMPretrain cannot train')
def test_deit_teacher_to_resnet_student(mmpretrain_scope):
    """DeiT's class and distillation tokens are both dropped from the teacher's maps."""
    torch.manual_seed(0)
    teacher = vit_classifier('DistilledVisionTransformer', 'DeiTClsHead')
    model = MODELS.build(distill(tiny_classifier(base_channels=4), teacher, CNN_RECORDERS,
                                 VIT_RECORDERS))
    assert model.teacher.backbone.num_extra_tokens == 2
    student, teacher = probe_shapes(model)
    assert teacher == [(2, 32, 4, 4)] * 3 + [(2, 32, 1, 1)]
    assert student == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4), (2, 32, 1, 1)]
    train_one_step(model)
    # a training size other than the model's: the maps follow the grid of that forward
    assert probe_shapes(model, size=48)[1][:3] == [(2, 32, 6, 6)] * 3


def test_resnet_teacher_to_vit_student(mmpretrain_scope):
    """The student's token maps get the gradient of the distillation loss."""
    torch.manual_seed(0)
    student = vit_classifier('VisionTransformer', 'VisionTransformerClsHead')
    model = MODELS.build(distill(student, tiny_classifier(base_channels=8), VIT_RECORDERS,
                                 CNN_RECORDERS))
    student_shapes, teacher_shapes = probe_shapes(model)
    assert student_shapes == [(2, 32, 4, 4)] * 3 + [(2, 32, 1, 1)]
    assert teacher_shapes == [(2, 16, 16, 16), (2, 32, 8, 8), (2, 64, 4, 4), (2, 64, 1, 1)]
    # the distillation loss alone reaches the first ViT layers (the student's own loss does too,
    # so check it without it)
    model.train()
    data = model.data_preprocessor(batch(), True)
    losses = model.loss(**data)
    losses['loss_reviewkd'].backward()
    grad = model.student.backbone.layers[1].ffn.layers[1].weight.grad
    assert grad is not None and grad.abs().sum() > 0
    model.zero_grad()
    train_one_step(model)
