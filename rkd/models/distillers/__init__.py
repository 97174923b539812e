from .reviewkd_distiller import ReviewKDDistiller
from .warmup import LinearWarmup

__all__ = ['ReviewKDDistiller', 'LinearWarmup']
