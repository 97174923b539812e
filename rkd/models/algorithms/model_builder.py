"""Build a task model (mmpretrain, mmdet, mmseg...) from an inline dict or from its config file."""
import copy
from typing import Optional, Union

from mmengine.config import Config, ConfigDict
from mmengine.hub import get_config
from mmengine.model import BaseModel, BaseModule
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings
from torch import nn

from rkd.registry import MODELS

from .feature_teacher import feature_teacher_config
from .probe_state import preserved_random_state


def build_task_model(model: Union[str, dict, ConfigDict],
                     data_preprocessor: Optional[dict] = None,
                     overrides: Optional[dict] = None,
                     headless: bool = False) -> BaseModel:
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

    ``headless`` builds the model's backbone (and neck) alone, as an :class:`rkd.FeatureTeacher`
    with the model's data preprocessor: a classifier's backbone teaching another task.
    """
    if isinstance(model, str):
        cfg = get_config(model) if '::' in model else Config.fromfile(model)
        if 'model' not in cfg:
            raise KeyError(f'The config file {model} has no `model` to build.')
        if cfg.get('custom_imports'):
            import_modules_from_strings(**cfg.custom_imports)
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
            return _with_own_lists(MODELS.build(
                _prepared(cfg.model, cfg.get('data_preprocessor'), overrides, headless)))
    return _with_own_lists(MODELS.build(_prepared(model, data_preprocessor, overrides, headless)))


def _with_own_lists(model: nn.Module) -> nn.Module:
    """``model`` with a list of its own as each module's ``out_indices``.

    mmpretrain 1.2's HiViT keeps the default ``out_indices=[23]`` of its signature and writes
    its last stage into it: the teacher built after a HiViT student rewrote the student's
    list, and the student returned no stage. A distillation builds two models in a process.
    """
    for module in model.modules():
        if isinstance(getattr(module, 'out_indices', None), list):
            module.out_indices = list(module.out_indices)
    return model


def _prepared(model: dict, data_preprocessor: Optional[dict], overrides: Optional[dict],
              headless: bool = False) -> ConfigDict:
    model = ConfigDict(copy.deepcopy(model))
    if overrides:
        model.merge(overrides)
    if data_preprocessor is not None:
        model.setdefault('data_preprocessor', data_preprocessor)
    return feature_teacher_config(model) if headless else model


def drop_pretrained_init(model: nn.Module) -> None:
    """Remove the ``Pretrained`` entries of every ``init_cfg`` in ``model`` (mmdet's backbones
    name torchvision weights), so that ``init_weights()`` downloads nothing."""
    pretrained = ('Pretrained', 'PretrainedInit')
    for module in model.modules():
        init_cfg = getattr(module, 'init_cfg', None)
        if isinstance(init_cfg, dict) and init_cfg.get('type') in pretrained:
            module.init_cfg = None  # a dict stays a dict: some init_weights() index it
        elif isinstance(init_cfg, list):
            kept = [cfg for cfg in init_cfg if cfg.get('type') not in pretrained]
            module.init_cfg = kept or None


def initialise_for_probe(model: nn.Module, runner_inits_again: bool) -> None:
    """``model.init_weights()`` at build time, so that the build-time probe never reads
    uninitialised memory: layers whose weights only ``init_weights()`` sets (SSD's L2Norm,
    Deformable DETR's level embeddings) hold whatever was in memory, NaNs included, until then.

    Nothing is downloaded (``Pretrained`` entries are left out), the random state is untouched
    and no parameter's initialisation is logged. With ``runner_inits_again`` the init configs
    are put back and the modules marked uninitialised, so that the runner's ``init_weights()``
    initialises the model as its config says (pretrained parts included), as without this call.
    """
    saved = {module: module.init_cfg for module in model.modules()
             if isinstance(module, BaseModule)}
    drop_pretrained_init(model)
    # mmengine logs every parameter's initialisation at the top-level call; the runner's call
    # will log them, this one stays silent
    model._dump_init_info = lambda: None
    try:
        with preserved_random_state():
            model.init_weights()
    finally:
        del model._dump_init_info
    if runner_inits_again:
        for module, init_cfg in saved.items():
            module.init_cfg = init_cfg
            module.is_init = False
