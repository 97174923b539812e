"""Let torch's safe (``weights_only``) loader read mmengine checkpoints.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7 saves its message
hub (``HistoryBuffer`` objects holding numpy arrays) into every checkpoint, so ``--resume`` fails
with "Unsupported global". Instead of turning safety off for every load
(``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``) we allow-list exactly the globals these checkpoints hold.
"""
import builtins
import importlib

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def _numpy_globals() -> list:
    """The numpy globals that pickled arrays and scalars reference.

    They are given with both module paths (``numpy.core`` in numpy 1, ``numpy._core`` in numpy 2),
    so a checkpoint written under one numpy loads under the other.
    """
    numpy_1 = int(np.__version__.split('.')[0]) < 2
    multiarray = importlib.import_module(
        'numpy.core.multiarray' if numpy_1 else 'numpy._core.multiarray')
    by_name = [(getattr(multiarray, name), f'numpy.{core}.multiarray.{name}')
               for name in ('_reconstruct', 'scalar') for core in ('core', '_core')]
    dtype_classes = {type(np.dtype(scalar_type)) for scalar_type in np.sctypeDict.values()}
    return [*by_name, np.ndarray, np.dtype, *dtype_classes]


def allow_mmengine_checkpoints() -> None:
    """Allow-list the globals in an mmengine checkpoint for ``torch.load(weights_only=True)``.

    ``builtins.getattr`` is needed because ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``; torch's safe unpickler still refuses to *call* anything
    that is not allow-listed, so the attributes it yields stay inert data.
    """
    torch.serialization.add_safe_globals([HistoryBuffer, builtins.getattr, *_numpy_globals()])
