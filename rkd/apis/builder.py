"""Build the model of a config exactly as ``tools/train.py``'s Runner does, for the tools that
need the model without a Runner (visualizers, benchmarks, complexity counts)."""
from typing import Optional

from mmengine.config import Config, ConfigDict
from mmengine.dist import is_distributed
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope
from torch import nn

from rkd.engine.compat import install_safe_loaders
from rkd.registry import MODELS


def build_distillation(cfg: Config, model_cfg: Optional[ConfigDict] = None) -> nn.Module:
    """The model of ``cfg`` (or ``model_cfg``, an edited copy of ``cfg.model``) as mmengine's
    Runner builds it: the config's top-level ``data_preprocessor`` becomes the model's unless
    the model names its own, types resolve in the config's ``default_scope``, and outside a
    distributed run SyncBN layers become ``BatchNormXd`` (``Runner.wrap_model`` does that).

    Without the first step a tool meets a different model than the one trained: a student fed
    raw pixels and a teacher re-normalising them (``Runner.__init__`` does it, not the registry).
    ``cfg.custom_imports`` were already imported by ``Config.fromfile``. Checkpoints load
    through rkd's safe loaders, as under :func:`build_runner`.
    """
    install_safe_loaders()
    model_cfg = (cfg.model if model_cfg is None else model_cfg).copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(model_cfg)
    return model if is_distributed() else revert_sync_batchnorm(model)
