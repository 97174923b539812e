from .atomic_checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend
from .non_finite_guard_hook import NonFiniteGuardHook
from .random_state_hook import RandomStateHook
from .student_export_hook import StudentExportHook
from .teacher_check_hook import TeacherCheckHook

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'NonFiniteGuardHook', 'RandomStateHook',
    'StudentExportHook', 'TeacherCheckHook'
]
