"""rkd's safe checkpoint loaders in mmengine's ``CheckpointLoader``, for the Runner's own loads.

Needed with mmengine 0.10.7: its URL loaders unpickle with torch's ``weights_only=False`` (a
crafted file runs code), and its local loader, under torch >= 2.6's ``weights_only=True``
default, cannot read the checkpoints its own Runner writes (their message hub). The Runner loads
``--resume``, ``load_from`` and pretrained ``init_cfg`` files through ``CheckpointLoader``, so
rkd's entry points (``tools/*.py``, :func:`rkd.apis.build_runner`,
:func:`rkd.apis.build_distillation`) install rkd's loaders there before a Runner exists.
Importing rkd changes nothing in mmengine.
"""
from mmengine.runner.checkpoint import CheckpointLoader

from rkd.checkpoint.safe_loading import SAFE_SCHEMES

from .version import check_mmengine_version


def install_safe_loaders() -> None:
    """Make mmengine's ``CheckpointLoader`` load local files and URLs through rkd's safe loader
    (:data:`rkd.checkpoint.safe_loading.SAFE_SCHEMES`), for the rest of the process.

    This makes mmengine's loading stricter, never looser: every file goes through torch's safe
    unpickler, trusting only the globals of mmengine's checkpoint format, during that one load.
    Calling it again changes nothing.
    """
    check_mmengine_version()
    for prefix, loader in SAFE_SCHEMES.items():
        CheckpointLoader.register_scheme(prefix, loader, force=True)
