from .non_finite_guard_hook import NonFiniteError, NonFiniteGuardHook, non_finite_names
from .random_state_hook import RandomStateHook
from .student_export_hook import StudentExportHook

__all__ = [
    'NonFiniteError', 'NonFiniteGuardHook', 'RandomStateHook', 'StudentExportHook',
    'non_finite_names'
]
