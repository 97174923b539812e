"""Model configs and tiny runs shared by the tests: a real mmpretrain pair at test cost."""
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config
from PIL import Image


def tiny_classifier(base_channels: int, num_classes: int = 4) -> dict:
    """An mmpretrain CIFAR ResNet-18 with thin stages."""
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(num_classes=num_classes, mean=[127.5] * 3, std=[127.5] * 3),
        backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=base_channels,
                      out_indices=(0, 1, 2, 3)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=base_channels * 8,
                  loss=dict(type='CrossEntropyLoss')))


def reviewkd_algorithm(teacher_checkpoint=None, num_classes: int = 4, **distiller) -> dict:
    """ReviewKD on the tiny pair: 4 stages + the pooled embedding, teacher pre-activation."""
    # the neck pools every stage the backbone returns: the embedding is its last element
    embedding = dict(source='neck', element=-1)
    teacher_recorders = [
        dict(source=f'backbone.layer{i}.1.relu', io='input', call=-1) for i in range(1, 5)
    ] + [embedding]
    return dict(
        type='rkd.SingleTeacherDistill',
        student=tiny_classifier(base_channels=4, num_classes=num_classes),
        teacher=dict(config=tiny_classifier(base_channels=8, num_classes=num_classes),
                     checkpoint=teacher_checkpoint),
        distiller=dict(type='rkd.ReviewKDDistiller', student_recorders=['backbone', embedding],
                       teacher_recorders=teacher_recorders,
                       loss=dict(type='rkd.HCLoss', loss_weight=1.0), **distiller),
        probe_input_shape=(3, 16, 16))


def write_image_folder(root: Path, classes: int = 4, per_class: int = 4) -> None:
    """A tiny mmpretrain CustomDataset: one sub-folder per class."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f'class{c}').mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f'class{c}' / f'{i}.png')


def write_config(path: Path, data_root: Path, teacher_ckpt: str, max_iters: int) -> None:
    """A distillation config of the tiny pair on :func:`write_image_folder`'s data: a checkpoint
    every iteration, the student exported at the end."""
    dataset = dict(type='CustomDataset', data_root=str(data_root),
                   pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    cfg = Config(dict(
        default_scope='mmpretrain',
        custom_imports=dict(imports=['rkd'], allow_failed_imports=False),
        model=reviewkd_algorithm(teacher_checkpoint=teacher_ckpt),
        train_dataloader=dict(batch_size=4, num_workers=0, dataset=dataset,
                              sampler=dict(type='DefaultSampler', shuffle=True)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        test_dataloader=dict(batch_size=4, num_workers=0, dataset=dataset,
                             sampler=dict(type='DefaultSampler', shuffle=False)),
        test_evaluator=dict(type='Accuracy'),
        test_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='rkd.StudentExportHook')]))
    cfg.dump(str(path))


def randomise_bn_scales(model: torch.nn.Module) -> None:
    """BN scales drawn at random, standing in for trained ones: initialised as its config says,
    a ResNet's last BN of a block starts at 0 (zero_init_residual) and its block's output
    before the last ReLU is then the non-negative identity."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(module.weight)
