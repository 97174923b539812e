"""Student-only checkpoints: what users ship after distillation."""
from collections import OrderedDict
from typing import Optional

import torch
from mmengine.runner.checkpoint import save_checkpoint, weights_to_cpu

from rkd.utils.non_finite import NonFiniteError, few, non_finite_names

from .safe_loading import checkpoint_role, safe_load_checkpoint
from .weights import load_weights

STUDENT_PREFIX = 'student.'


def student_state_dict(state_dict: dict) -> OrderedDict:
    """The ``student.*`` entries of a distillation state dict, with the prefix removed.

    The result loads with ``strict=True`` into the plain task model built from the student's
    config: teacher, connector and loss are training-only parts of ReviewKD.
    """
    student = OrderedDict((key[len(STUDENT_PREFIX):], value) for key, value in state_dict.items()
                          if key.startswith(STUDENT_PREFIX))
    if not student:
        raise KeyError(f'No "{STUDENT_PREFIX}*" weights in this state dict (first keys: '
                       f'{list(state_dict)[:5]}): is it a checkpoint of rkd.SingleTeacherDistill?')
    return student


def save_student_checkpoint(state_dict: dict, out_file: str, meta: Optional[dict] = None) -> None:
    """Write ``{'state_dict': student weights, 'meta': meta}`` with mmengine's checkpoint I/O;
    a student with a NaN or infinite weight is refused (:class:`NonFiniteError`), nothing written.
    """
    student = student_state_dict(state_dict)
    bad = non_finite_names(student.items())
    if bad:
        raise NonFiniteError(f'Refusing to export the student to {out_file}: non-finite '
                             f'weights in {few(bad, len(student), "tensors")}.')
    save_checkpoint(dict(state_dict=weights_to_cpu(student), meta=meta or {}), out_file)


def export_student(checkpoint_file: str, out_file: str) -> None:
    """Read a training checkpoint of the distillation and write the student-only checkpoint."""
    with checkpoint_role('checkpoint to export', checkpoint_file):
        checkpoint = safe_load_checkpoint(checkpoint_file, map_location='cpu')
    meta = dict(checkpoint.get('meta', {}), exported_from=checkpoint_file)
    save_student_checkpoint(checkpoint['state_dict'], out_file, meta)


def load_student(model: torch.nn.Module, student_file: str) -> None:
    """Load an exported student strictly into ``model``: every key must match."""
    load_weights(model, student_file, 'student checkpoint', strict=True)
