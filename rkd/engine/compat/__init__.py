"""rkd's workarounds for mmengine, each for the mmengine versions in :data:`TESTED_MMENGINE`.

=============================  ============================================================
workaround                     what mmengine 0.10.7 does without it
=============================  ============================================================
``install_safe_loaders``       its URL loaders unpickle with ``weights_only=False`` (a
                               crafted checkpoint runs code); its local loader cannot read
                               its own Runner's checkpoints under torch >= 2.6
``AtomicCheckpointHook``       a kill while saving leaves a truncated checkpoint, and
                               ``max_keep_ckpts`` / ``save_best`` remove the previous one first
``RandomStateHook``            ``--resume`` restarts the generators from the seed and a
                               resumed epoch at its first batch; checkpoints are written by
                               the first process alone
=============================  ============================================================

tests/test_engine/test_compat/ asserts the mmengine behaviour each one compensates for (and
the private parts of mmengine each one relies on): a test there failing after an mmengine
upgrade says which workaround to drop or to adapt. :func:`check_mmengine_version` warns on an
mmengine outside the tested range.
"""
from .atomic_checkpoint import AtomicCheckpointHook, AtomicLocalBackend
from .random_state import RandomStateHook
from .safe_loaders import install_safe_loaders
from .version import TESTED_MMENGINE, UntestedMMEngineWarning, check_mmengine_version

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'RandomStateHook', 'TESTED_MMENGINE',
    'UntestedMMEngineWarning', 'check_mmengine_version', 'install_safe_loaders'
]
