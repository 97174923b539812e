"""rkd: Knowledge Review distillation (ReviewKD, CVPR 2021) for OpenMMLab models.

Importing rkd registers its modules. rkd itself never imports mmdet or mmseg (they need mmcv's
compiled ops, which some machines lack): task packages are imported by the configs that use them.
"""
from .utils import allow_mmengine_checkpoints
from .version import __version__

from . import datasets, engine, models  # noqa: E402,F401  (registers rkd's modules)

allow_mmengine_checkpoints()

__all__ = ['__version__']
