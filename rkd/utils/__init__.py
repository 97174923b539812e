from .checkpoint_safety import (CheckpointLoadError, UnsafeCheckpointError, checkpoint_role,
                                register_safe_loaders, safe_torch_load)
from .setup_env import register_all_modules
from .weights import load_weights

__all__ = [
    'CheckpointLoadError', 'UnsafeCheckpointError', 'checkpoint_role', 'load_weights',
    'register_all_modules', 'register_safe_loaders', 'safe_torch_load'
]
