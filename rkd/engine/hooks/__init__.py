from .atomic_checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend
from .non_finite_guard_hook import NonFiniteGuardHook
from .random_state_hook import RandomStateHook
from .student_export_hook import StudentExportHook
from .student_update_check_hook import FrozenStudentError, StudentUpdateCheckHook
from .teacher_check_hook import TeacherCheckHook

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'FrozenStudentError', 'NonFiniteGuardHook',
    'RandomStateHook', 'StudentExportHook', 'StudentUpdateCheckHook', 'TeacherCheckHook'
]
