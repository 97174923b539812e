"""Checkpoint I/O of rkd: loading that never runs code from a file, weights that must fit the
model, and the student-only checkpoints a distillation exports."""
from .safe_loading import (CheckpointLoadError, UnsafeCheckpointError, checkpoint_role,
                           safe_load_checkpoint, safe_torch_load)
from .student import export_student, load_student, save_student_checkpoint, student_state_dict
from .weights import load_weights

__all__ = [
    'CheckpointLoadError', 'UnsafeCheckpointError', 'checkpoint_role', 'export_student',
    'load_student', 'load_weights', 'safe_load_checkpoint', 'safe_torch_load',
    'save_student_checkpoint', 'student_state_dict'
]
