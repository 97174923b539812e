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
                     data_preprocessor: Optional[dict] = None) -> BaseModel:
    """A model from a config file (its ``model``, built in its ``default_scope`` after its
    ``custom_imports``) or from a model dict (built in the current default scope).

    As mmengine's Runner does, a top-level ``data_preprocessor`` (the config file's, or the one
    given) is the model's unless the model dict has its own: mmpretrain's configs keep it there.

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
            return MODELS.build(_with_preprocessor(cfg.model, cfg.get('data_preprocessor')))
    return MODELS.build(_with_preprocessor(model, data_preprocessor))


def _with_preprocessor(model: dict, data_preprocessor: Optional[dict]) -> dict:
    model = copy.deepcopy(model)
    if data_preprocessor is not None:
        model.setdefault('data_preprocessor', data_preprocessor)
    return model
