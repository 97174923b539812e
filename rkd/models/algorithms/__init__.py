from .model_builder import build_task_model
from .single_teacher_distill import SingleTeacherDistill

__all__ = ['SingleTeacherDistill', 'build_task_model']
