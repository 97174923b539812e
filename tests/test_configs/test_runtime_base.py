"""Every shipped distillation config takes rkd's runtime from configs/_base_/rkd_runtime.py, and
its loaded config holds no top-level key of rkd's own that nothing reads."""
import ast
import functools
import inspect
from pathlib import Path
from typing import FrozenSet, Iterator, Set

import pytest
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.runner import Runner

REPO = Path(__file__).parents[2]
CONFIGS = REPO / 'configs'
RUNTIME = CONFIGS / '_base_' / 'rkd_runtime.py'
DISTILL = sorted(CONFIGS.rglob('reviewkd_*.py'))

# What the Runner builds itself from (Runner.from_cfg passes these keys to Runner.__init__),
# and the imports Config.fromfile runs.
RUNNER_KEYS = set(inspect.signature(Runner.__init__).parameters) - {'self'} | {'custom_imports'}
# Keys every OpenMMLab config carries for its tools and readers: mmseg's inference and the
# test tools' --tta read the pipelines and the TTA model; a dataset config names its dataset.
OPENMMLAB_KEYS = {
    'train_pipeline', 'test_pipeline', 'tta_model', 'tta_pipeline', 'dataset_type', 'data_root'
}


def bases(path: Path) -> Iterator[str]:
    """The `_base_` chain of a config file: rkd's own bases as absolute paths (and their bases in
    turn), mmpretrain's/mmdet's/mmseg's as written (`mmdet::...`)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
                getattr(target, 'id', None) == '_base_' for target in node.targets):
            entries = ast.literal_eval(node.value)
            for entry in [entries] if isinstance(entries, str) else entries:
                if '::' in entry:
                    yield entry
                else:
                    base = (path.parent / entry).resolve()
                    yield str(base)
                    yield from bases(base)


def upstream_keys(path: Path) -> Set[str]:
    """Top-level keys that the config's mmpretrain/mmdet/mmseg bases set: theirs, not rkd's."""
    return {key for base in bases(path) if '::' in base for key in _keys(base)}


@functools.lru_cache
def _keys(upstream_config: str) -> FrozenSet[str]:
    return frozenset(get_config(upstream_config))


@pytest.mark.parametrize('path', DISTILL, ids=lambda p: p.stem)
def test_distillation_config_inherits_rkds_runtime(path):
    assert str(RUNTIME) in set(bases(path)), \
        f"{path.name}: inherit configs/_base_/rkd_runtime.py (add it to `_base_`)"
    runtime = Config.fromfile(str(RUNTIME))
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports == runtime.custom_imports
    assert [hook for hook in cfg.custom_hooks if hook in runtime.custom_hooks] \
        == runtime.custom_hooks, f'{path.name}: keep the hooks of rkd_runtime.py'


@pytest.mark.parametrize('path', DISTILL, ids=lambda p: p.stem)
def test_distillation_config_has_no_stray_top_level_key(path):
    stray = set(Config.fromfile(str(path))) - RUNNER_KEYS - OPENMMLAB_KEYS - upstream_keys(path)
    assert not stray, (
        f'{path.name}: top-level keys {sorted(stray)} reach the loaded config but nothing reads '
        "them: inline them, or read a base's variable with `_base_.pop('name')`")


def test_the_runtime_is_set_in_one_file_only():
    """custom_imports and custom_hooks are written once: a config that sets them again (beside
    rkd_runtime.py) is refused by mmengine, or shadows the shared hooks."""
    for path in CONFIGS.rglob('*.py'):
        if path == RUNTIME:
            continue
        assigned = {getattr(target, 'id', None) for node in ast.parse(path.read_text()).body
                    if isinstance(node, ast.Assign) for target in node.targets}
        assert not assigned & {'custom_imports', 'custom_hooks'}, path.relative_to(REPO)


def test_the_allow_list_catches_a_stray_key(tmp_path):
    """A helper variable left at the top level is what the check above refuses."""
    config = tmp_path / 'reviewkd_stray.py'
    config.write_text(f"_base_ = ['{RUNTIME}']\nteacher_checkpoint = 'x.pth'\n"
                      "model = dict(type='rkd.SingleTeacherDistill')\n")
    assert set(Config.fromfile(str(config))) - RUNNER_KEYS == {'teacher_checkpoint'}
