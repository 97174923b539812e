from rkd.checkpoint import export_student, load_student, save_student_checkpoint, student_state_dict

from .builder import build_distillation
from .config import (add_runner_args, build_runner, enable_amp, enable_auto_scale_lr,
                     enable_visualization, exit_on_checkpoint_error, load_config, parse_runner_args,
                     set_resume, start_checkpoint)

__all__ = [
    'add_runner_args', 'build_distillation', 'build_runner', 'enable_amp', 'enable_auto_scale_lr',
    'enable_visualization', 'exit_on_checkpoint_error', 'export_student', 'load_config',
    'load_student', 'parse_runner_args', 'save_student_checkpoint', 'set_resume',
    'start_checkpoint', 'student_state_dict'
]
