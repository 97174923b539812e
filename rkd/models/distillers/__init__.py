from .base_distiller import BaseDistiller
from .reviewkd_distiller import ReviewKDDistiller
from .warmup import LinearWarmup

__all__ = ['BaseDistiller', 'LinearWarmup', 'ReviewKDDistiller']
