"""End to end on a shipped segmentation config: tools/train.py distils PSPNet R101-d8 -> R18-d8
on generated shapes, the exported student loads strictly into the plain mmseg segmentor and
tools/test.py scores it with mmseg's IoUMetric under mmseg's own config.

The shipped config runs as it is but for data, 64 px crops, 3 classes, a few iterations and no
downloaded weights (random teacher, no ImageNet initialisation of the student).
"""
import json
from pathlib import Path

import pytest
import torch

from seg_data import CLASSES, dataset_cfg, write_shapes_dataset
from tool_runs import run_tool

REPO = Path(__file__).parents[2]
DISTILL = REPO / 'configs/cityscapes/reviewkd_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'  # noqa: E501
STUDENT = 'mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'
ITERS = 3

pytestmark = pytest.mark.slow


def small_data_overrides(data_root: Path) -> str:
    """Config text that puts a config on the generated data at 64 px, 3 classes."""
    train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                      dict(type='RandomFlip', prob=0.5), dict(type='PackSegInputs')]
    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                     dict(type='PackSegInputs')]
    loader = dict(num_workers=0, persistent_workers=False)
    train = dict(loader, batch_size=2,
                 dataset=dict(dataset_cfg(data_root, 'train', train_pipeline), _delete_=True))
    test = dict(loader, batch_size=1,
                dataset=dict(dataset_cfg(data_root, 'val', test_pipeline), _delete_=True))
    segmentor = dict(pretrained=None, data_preprocessor=dict(size=(64, 64)),
                     decode_head=dict(num_classes=len(CLASSES)),
                     auxiliary_head=dict(num_classes=len(CLASSES)))
    return '\n'.join([
        f'segmentor = {segmentor!r}',
        'data_preprocessor = dict(size=(64, 64))',
        f'train_dataloader = {train!r}',
        f'val_dataloader = {test!r}',
        'test_dataloader = val_dataloader',
        f'train_cfg = dict(max_iters={ITERS}, val_interval={ITERS})',
        f"default_hooks = dict(checkpoint=dict(interval={ITERS}), logger=dict(interval=1))",
    ]) + '\n'


def write_configs(tmp_path: Path, data_root: Path) -> tuple:
    distill, student = tmp_path / 'distill.py', tmp_path / 'student.py'
    overrides = small_data_overrides(data_root)
    distill.write_text(f'_base_ = [{str(DISTILL)!r}]\n' + overrides +
                       'model = dict(student=segmentor, teacher=dict(checkpoint=None))\n')
    student.write_text(f'_base_ = [{STUDENT!r}]\n' + overrides + 'model = segmentor\n')
    return distill, student


def test_distill_export_and_score_with_mmseg(tmp_path):
    write_shapes_dataset(tmp_path / 'data')
    distill, student_cfg = write_configs(tmp_path, tmp_path / 'data')
    work_dir = tmp_path / 'work'

    run_tool('train.py', str(distill), '--work-dir', str(work_dir))
    assert (work_dir / f'iter_{ITERS}.pth').exists()
    log = [json.loads(line) for line in
           next(work_dir.glob('*/vis_data/scalars.json')).read_text().splitlines()]
    train_logs = [entry for entry in log if 'loss_reviewkd' in entry]
    assert len(train_logs) == ITERS and all(e['loss_reviewkd'] > 0 for e in train_logs)
    assert any('mIoU' in entry for entry in log), 'the val loop ran on the student'

    # The exported student is the trained one, key for key, and loads strictly into the plain
    # segmentor built from mmseg's own config.
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    from rkd.apis import load_student
    with DefaultScope.overwrite_default_scope('mmseg'):
        segmentor = MODELS.build(Config.fromfile(str(student_cfg)).model)
    load_student(segmentor, str(work_dir / 'student.pth'))
    trained = torch.load(work_dir / f'iter_{ITERS}.pth', map_location='cpu',
                         weights_only=False)['state_dict']
    exported = segmentor.state_dict()
    assert set(exported) == {k[len('student.'):] for k in trained if k.startswith('student.')}
    for key, value in exported.items():
        torch.testing.assert_close(value, trained[f'student.{key}'], rtol=0, atol=0)

    run_tool('test.py', str(student_cfg), str(work_dir / 'student.pth'),
             '--work-dir', str(tmp_path / 'test'))
    metrics = json.loads(next((tmp_path / 'test').glob('*/*.json')).read_text())
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(metrics)
    assert 0 <= metrics['mIoU'] <= 100 and 0 < metrics['aAcc'] <= 100
