"""Build a task model (mmpretrain, mmdet, mmseg...) from an inline dict or from its config file."""
import copy
from typing import Optional, Union

from mmengine.config import Config, ConfigDict
from mmengine.hub import get_config
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings

from rkd.registry import MODELS


def build_task_model(model: Union[str, dict, ConfigDict],
                     data_preprocessor: Optional[dict] = None,
                     overrides: Optional[dict] = None) -> BaseModel:
    """A model from a config file (its ``model``, built in its ``default_scope`` after its
    ``custom_imports``) or from a model dict (built in the current default scope).

    As mmengine's Runner does, a top-level ``data_preprocessor`` (the config file's, or the one
    given) is the model's unless the model dict has its own: mmpretrain's configs keep it there.

    A config file is a path or a package config such as
    ``'mmpretrain::resnet/resnet34_8xb32_in1k.py'``.

    Teachers usually come from their own training config, which may live in another task's
    scope than the distillation config: mmdet teacher, mmdet student, but an rkd algorithm.

    ``overrides`` is merged into the model dict as a child config merges into its base (nested
    dicts key by key, ``_delete_=True`` to replace one): a distillation config that takes its
    student as ``{{_base_.model}}`` changes a field of it this way.
    """
    if isinstance(model, str):
        cfg = get_config(model) if '::' in model else Config.fromfile(model)
        if 'model' not in cfg:
            raise KeyError(f'The config file {model} has no `model` to build.')
        if cfg.get('custom_imports'):
            import_modules_from_strings(**cfg.custom_imports)
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
            return MODELS.build(
                _prepared(cfg.model, cfg.get('data_preprocessor'), overrides))
    return MODELS.build(_prepared(model, data_preprocessor, overrides))


def _prepared(model: dict, data_preprocessor: Optional[dict],
              overrides: Optional[dict]) -> ConfigDict:
    model = ConfigDict(copy.deepcopy(model))
    if overrides:
        model.merge(overrides)
    if data_preprocessor is not None:
        model.setdefault('data_preprocessor', data_preprocessor)
    return model
