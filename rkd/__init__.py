"""rkd: Knowledge Review distillation (ReviewKD, CVPR 2021) for OpenMMLab models.

Importing rkd registers its modules. rkd itself never imports mmdet or mmseg (they need mmcv's
compiled ops, which some machines lack): task packages are imported by the configs that use them.
"""
from . import datasets, engine, models  # noqa: E402,F401  (registers rkd's modules)
from .version import __version__

__all__ = ['__version__']
