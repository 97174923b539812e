from .random_state_hook import RandomStateHook
from .student_export_hook import StudentExportHook

__all__ = ['RandomStateHook', 'StudentExportHook']
