"""The frozen teacher in a lower precision: ``model.teacher.dtype='bfloat16'`` or ``'float16'``.

The teacher is only read, never trained, so it needs neither float32 master weights nor autocast:
its parameters and buffers are cast once, its inputs at each forward, and the features it gives
the connector and loss come back in the student's dtype. The features then carry the teacher's
rounding (bfloat16 keeps 8 significant bits: relative errors of about 1e-2 over a deep network).
Meant for GPUs; a CPU without native bfloat16 (AVX-512 BF16, AMX) emulates it, slower than fp32.
"""
from functools import partial
from typing import Any, List, Optional, Tuple

import torch
from torch import nn

# The values of ``model.teacher.dtype``; None keeps the teacher as built (float32).
TEACHER_DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16}
# Sub-modules left in float32: the preprocessor's mean and std, read when the teacher's inputs are
# re-normalised, keep their precision.
KEPT_IN_FLOAT32 = ('data_preprocessor', )


def teacher_dtype(name: Optional[str]) -> Optional[torch.dtype]:
    """The torch dtype ``name`` stands for, None for None, else a ValueError naming the values."""
    if name is None:
        return None
    if name not in TEACHER_DTYPES:
        raise ValueError(f'model.teacher.dtype must be one of {sorted(TEACHER_DTYPES)} or None '
                         f'(as built, float32), got {name!r}')
    return TEACHER_DTYPES[name]


def cast_teacher(teacher: nn.Module, dtype: torch.dtype) -> None:
    """Cast the floating-point parameters and buffers of ``teacher`` to ``dtype`` in place, its
    preprocessor aside (:data:`KEPT_IN_FLOAT32`), and its ``forward``'s floating-point tensor
    arguments at each call: what calls the teacher as a whole (a ``val_step`` of
    ``rkd.TeacherCheckHook``) passes its preprocessor's float32 batch."""
    for name, child in teacher.named_children():
        if name not in KEPT_IN_FLOAT32:
            child.to(dtype=dtype)
    teacher.register_forward_pre_hook(partial(_cast_inputs, dtype), with_kwargs=True)


def _cast_inputs(dtype: torch.dtype, module: nn.Module, args: tuple, kwargs: dict
                 ) -> Tuple[tuple, dict]:
    def cast(value: Any) -> Any:
        return value.to(dtype) if torch.is_tensor(value) and value.is_floating_point() \
            else value
    return tuple(cast(arg) for arg in args), {key: cast(v) for key, v in kwargs.items()}


def to_dtype(features: List[torch.Tensor], dtype: torch.dtype) -> List[torch.Tensor]:
    """``features`` cast to ``dtype`` in place of the list, so a :class:`RecordedFeatures`
    keeps its named maps (cast too)."""
    features[:] = [feature.to(dtype) for feature in features]
    named = getattr(features, 'named', None)
    if named:
        for name, maps in named.items():
            named[name] = [feature.to(dtype) for feature in maps]
    return features
