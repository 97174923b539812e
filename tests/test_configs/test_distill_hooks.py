"""Every shipped distillation config stops at the first non-finite loss or gradient (so that no
non-finite checkpoint is written) and exports its student; every config rkd trains with, whatever
runtime its base brings (rkd's, mmpretrain's, mmdet's, mmseg's), saves checkpoints atomically
with the random states an exact resume needs."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.hooks import CheckpointHook

from rkd.engine.hooks import AtomicCheckpointHook, RandomStateHook
from rkd.registry import HOOKS

REPO = Path(__file__).parents[2]
DISTILL = sorted((REPO / 'configs').rglob('reviewkd_*.py'))
# rkd's training configs: the distillation configs and the students' and teachers' baselines
# (everything but the shared bases and the digits demo's runtime file).
TRAINING = sorted(p for p in (REPO / 'configs').rglob('*.py')
                  if '_base_' not in p.parts and not p.stem.endswith('_runtime'))


@pytest.mark.parametrize('path', DISTILL, ids=lambda p: p.stem)
def test_distillation_config_has_the_guard_and_the_export(path):
    cfg = Config.fromfile(str(path))
    assert cfg.model.type == 'rkd.SingleTeacherDistill'
    hooks = [hook['type'] for hook in cfg.get('custom_hooks', [])]
    assert 'rkd.NonFiniteGuardHook' in hooks, f'{path.name}: add rkd.NonFiniteGuardHook'
    assert 'rkd.StudentExportHook' in hooks
    assert 'rkd.StudentUpdateCheckHook' in hooks, f'{path.name}: add rkd.StudentUpdateCheckHook'


def test_every_distillation_config_is_a_training_config():
    assert set(DISTILL) <= set(TRAINING) and len(TRAINING) > len(DISTILL)


@pytest.mark.parametrize('path', TRAINING, ids=lambda p: p.stem)
def test_config_builds_rkds_runtime_hooks(path):
    """The merged default_hooks build rkd's checkpoint and random-state hooks."""
    hooks = Config.fromfile(str(path)).default_hooks
    assert hooks.checkpoint.type == 'rkd.AtomicCheckpointHook', \
        f"{path.name}: set default_hooks.checkpoint.type='rkd.AtomicCheckpointHook'"
    assert hooks.get('random_state', {}).get('type') == 'rkd.RandomStateHook', \
        f"{path.name}: add default_hooks.random_state=dict(type='rkd.RandomStateHook')"
    assert isinstance(HOOKS.build(hooks.checkpoint.to_dict()), AtomicCheckpointHook)
    assert isinstance(HOOKS.build(hooks.random_state.to_dict()), RandomStateHook)
    assert hooks.get('val_random_state', {}).get('type') == 'rkd.ValRandomStateHook', \
        f"{path.name}: add default_hooks.val_random_state=dict(type='rkd.ValRandomStateHook')"


def test_the_bases_checkpoint_interval_and_unit_stay():
    """mmdet's and mmseg's bases save by iteration: the merge keeps their interval and unit,
    not the hook's defaults (every epoch)."""
    for name, by_epoch, interval in (
            ('coco/reviewkd_retinanet_r101_r50_fpn_ms-180k_coco.py', False, 20000),
            ('coco/faster-rcnn_r18_fpn_ms-180k_coco.py', False, 20000),
            ('cityscapes/reviewkd_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
             False, 8000),
            ('ade20k/reviewkd_segformer_mit-b4_segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
             False, 16000)):
        checkpoint = HOOKS.build(Config.fromfile(str(REPO / 'configs' / name))
                                 .default_hooks.checkpoint.to_dict())
        assert isinstance(checkpoint, CheckpointHook)
        assert (checkpoint.by_epoch, checkpoint.interval) == (by_epoch, interval), name
