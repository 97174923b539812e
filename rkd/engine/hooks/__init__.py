from ..compat import AtomicCheckpointHook, AtomicLocalBackend, RandomStateHook
from .non_finite_guard_hook import NonFiniteGuardHook
from .student_export_hook import StudentExportHook
from .student_update_check_hook import FrozenStudentError, StudentUpdateCheckHook
from .teacher_check_hook import TeacherCheckHook
from .val_random_state_hook import ValRandomStateHook

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'FrozenStudentError', 'NonFiniteGuardHook',
    'RandomStateHook', 'StudentExportHook', 'StudentUpdateCheckHook', 'TeacherCheckHook',
    'ValRandomStateHook'
]
