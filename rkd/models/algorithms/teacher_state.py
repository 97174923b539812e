"""Distillation checkpoints without the frozen teacher.

The teacher never changes during distillation and is rebuilt from its own checkpoint whenever
the algorithm is built, so saving it again in every training checkpoint only makes them larger
(a ConvNeXt-T teacher: 261 MB of a checkpoint whose student is 45 MB). These hooks leave it out of
``state_dict()`` and, on loading, take the teacher entries a checkpoint lacks from the live
teacher, so resume, test and a strict load still see a complete state dict.
"""
import torch
from torch import nn

TEACHER = 'teacher.'


def leave_teacher_out_of_state_dict(algorithm: nn.Module) -> None:
    """Make ``algorithm.state_dict()`` skip ``algorithm.teacher`` and ``load_state_dict`` take its
    missing entries from the live teacher (entries a checkpoint has still win)."""
    algorithm.register_state_dict_post_hook(_drop_teacher)
    algorithm.register_load_state_dict_pre_hook(_fill_teacher)


def _drop_teacher(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    for key in [key for key in state_dict if key.startswith(prefix + TEACHER)]:
        del state_dict[key]


def _fill_teacher(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    with torch.no_grad():
        for key, value in module.teacher.state_dict(prefix=prefix + TEACHER).items():
            state_dict.setdefault(key, value)
