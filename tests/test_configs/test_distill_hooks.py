"""Every shipped distillation config stops at the first non-finite loss or gradient (so that no
non-finite checkpoint is written) and exports its student."""
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).parents[2]
DISTILL = sorted((REPO / 'configs').rglob('reviewkd_*.py'))


@pytest.mark.parametrize('path', DISTILL, ids=lambda p: p.stem)
def test_distillation_config_has_the_guard_and_the_export(path):
    cfg = Config.fromfile(str(path))
    assert cfg.model.type == 'rkd.SingleTeacherDistill'
    hooks = [hook['type'] for hook in cfg.get('custom_hooks', [])]
    assert 'rkd.NonFiniteGuardHook' in hooks, f'{path.name}: add rkd.NonFiniteGuardHook'
    assert 'rkd.StudentExportHook' in hooks
