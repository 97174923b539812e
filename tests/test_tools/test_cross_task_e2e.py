"""End to end on the shipped cross-task segmentation config: a classification run's checkpoint
(a ConvNeXt backbone and a linear head) teaches SegFormer MiT-B0 through tools/train.py on
generated shapes; the run's checkpoint holds no teacher, tools/test.py scores it, and the
student is exported.

The config runs as it is but for data, 64 px crops, 3 classes, a few iterations, a ConvNeXt of
one block a stage (8 to 64 channels) and no ImageNet initialisation of the student.
"""
import json
from pathlib import Path

import pytest
import torch
from mmengine.registry import DefaultScope

from rkd.registry import MODELS

from seg_data import CLASSES, dataset_cfg, write_shapes_dataset
from tool_runs import run_tool

REPO = Path(__file__).parents[2]
CONFIG = REPO / 'configs/cross_task/reviewkd_convnext-t-in1k_segformer_mit-b0_8xb2-160k_ade20k-512x512.py'  # noqa: E501
ARCH = dict(depths=[1, 1, 1, 1], channels=[8, 16, 32, 64])
ITERS = 3

pytestmark = pytest.mark.slow


def classification_checkpoint(path: Path) -> None:
    """What an mmpretrain classification run saves: ``backbone.*`` and ``head.*``."""
    import mmpretrain.models  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = MODELS.build(dict(
            type='ImageClassifier', backbone=dict(type='ConvNeXt', arch=ARCH),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=64)))
    for param in classifier.parameters():
        torch.nn.init.normal_(param, std=0.1)
    torch.save(dict(meta=dict(epoch=300), state_dict=classifier.state_dict()), path)


def write_config(tmp_path: Path, data_root: Path, checkpoint: Path) -> Path:
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]
    loader = dict(num_workers=0, persistent_workers=False)
    train = dict(loader, batch_size=2,
                 dataset=dict(dataset_cfg(data_root, 'train', pipeline), _delete_=True))
    test = dict(loader, batch_size=1,
                dataset=dict(dataset_cfg(data_root, 'val', pipeline), _delete_=True))
    student = dict(pretrained=None, backbone=dict(init_cfg=None),
                   data_preprocessor=dict(size=(64, 64)),
                   decode_head=dict(num_classes=len(CLASSES)))
    teacher = dict(backbone=dict(type='mmpretrain.ConvNeXt', arch=ARCH, _delete_=True),
                   checkpoint=str(checkpoint))
    config = tmp_path / 'distill.py'
    config.write_text('\n'.join([
        f'_base_ = [{str(CONFIG)!r}]',
        f'model = dict(student={student!r}, teacher={teacher!r})',
        'data_preprocessor = dict(size=(64, 64))',
        f'train_dataloader = {train!r}',
        f'val_dataloader = {test!r}',
        'test_dataloader = val_dataloader',
        f'train_cfg = dict(max_iters={ITERS}, val_interval={ITERS})',
        'param_scheduler = []',
        f'default_hooks = dict(checkpoint=dict(interval={ITERS}), logger=dict(interval=1))',
    ]) + '\n')
    return config


def test_classifier_backbone_teaches_segformer_through_the_tools(tmp_path):
    write_shapes_dataset(tmp_path / 'data')
    classification_checkpoint(tmp_path / 'classifier.pth')
    config = write_config(tmp_path, tmp_path / 'data', tmp_path / 'classifier.pth')
    work_dir = tmp_path / 'work'

    run_tool('train.py', str(config), '--work-dir', str(work_dir))
    text = next(work_dir.glob('*/*.log')).read_text()
    assert 'the checkpoint\'s 2 entries of head.* are not loaded' in text
    log = [json.loads(line) for line in
           next(work_dir.glob('*/vis_data/scalars.json')).read_text().splitlines()]
    train_logs = [entry for entry in log if 'loss_reviewkd' in entry]
    assert len(train_logs) == ITERS and all(e['loss_reviewkd'] > 0 for e in train_logs)
    assert any('mIoU' in entry for entry in log), 'the val loop ran on the student'

    # the run saves the student and the connector; the classifier's checkpoint restores the
    # teacher
    checkpoint = work_dir / f'iter_{ITERS}.pth'
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    assert {key.split('.')[0] for key in state} == {'student', 'distiller'}
    assert (work_dir / 'student.pth').is_file()

    run_tool('test.py', str(config), str(checkpoint), '--work-dir', str(tmp_path / 'test'))
    metrics = json.loads(next((tmp_path / 'test').glob('*/*.json')).read_text())
    assert 0 <= metrics['mIoU'] <= 100
