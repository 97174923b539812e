"""Build a task model (mmpretrain, mmdet, mmseg...) from an inline dict or from its config file."""
from typing import Union

from mmengine.config import Config, ConfigDict
from mmengine.hub import get_config
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings

from rkd.registry import MODELS


def build_task_model(model: Union[str, dict, ConfigDict]) -> BaseModel:
    """A model from a config file (its ``model``, built in its ``default_scope`` after its
    ``custom_imports``) or from a model dict (built in the current default scope).

    A config file is a path or a package config such as
    ``'mmpretrain::resnet/resnet34_8xb32_in1k.py'``.

    Teachers usually come from their own training config, which may live in another task's
    scope than the distillation config: mmdet teacher, mmdet student, but an rkd algorithm.
    """
    if isinstance(model, str):
        cfg = get_config(model) if '::' in model else Config.fromfile(model)
        if 'model' not in cfg:
            raise KeyError(f'The config file {model} has no `model` to build.')
        if cfg.get('custom_imports'):
            import_modules_from_strings(**cfg.custom_imports)
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
            return MODELS.build(cfg.model)
    return MODELS.build(model)
