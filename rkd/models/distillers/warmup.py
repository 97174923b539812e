"""Linear warm-up of the distillation weight, read off mmengine's message hub."""
import difflib
from numbers import Integral
from typing import Any, Optional

from mmengine.logging import MessageHub

WARMUP_KEYS = ('length', 'by_epoch')


class LinearWarmup:
    """``factor = min(1, progress / length)``, progress being the 0-based epoch or iteration.

    The paper's CIFAR recipe is ``LinearWarmup(length=20, by_epoch=True)``: no distillation in the
    first epoch, full weight from epoch 20. The runner's ``RuntimeInfoHook`` publishes ``epoch`` and
    ``iter`` in the message hub, so no hook of ours is needed.
    """

    def __init__(self, length: int, by_epoch: bool = True) -> None:
        if isinstance(length, bool) or not isinstance(length, Integral) or length <= 0:
            raise ValueError(f'warm-up length must be a positive int (epochs, or iterations with '
                             f'by_epoch=False), got {length!r}; drop `warmup` from the distiller '
                             'to train without warm-up.')
        if not isinstance(by_epoch, bool):
            raise ValueError(f'warm-up by_epoch must be True (length in epochs) or False (in '
                             f'iterations), got {by_epoch!r}')
        self.length = length
        self.by_epoch = by_epoch

    def factor(self) -> float:
        progress = MessageHub.get_current_instance().get_info('epoch' if self.by_epoch else 'iter')
        return min(1.0, (progress or 0) / self.length)


def build_warmup(cfg: Any) -> Optional[LinearWarmup]:
    """The distiller's ``warmup`` argument: None (or empty) for no warm-up, else a dict of
    :class:`LinearWarmup`'s arguments, its keys checked so that a typo is named."""
    if not cfg:
        return None
    if not isinstance(cfg, dict):
        raise ValueError(f'warmup must be a dict such as dict(length=20, by_epoch=True), or None '
                         f'for no warm-up, got {type(cfg).__name__} {cfg!r}')
    unknown = [key for key in cfg if key not in WARMUP_KEYS]
    if unknown:
        hints = [f'{key!r} (did you mean {close[0]!r}?)' if close else repr(key)
                 for key in unknown
                 for close in [difflib.get_close_matches(str(key), WARMUP_KEYS, n=1)]]
        raise ValueError(f'Unknown warm-up key(s) {", ".join(hints)}: it takes {WARMUP_KEYS}')
    if 'length' not in cfg:
        raise ValueError(f'warmup needs a length (epochs, or iterations with by_epoch=False), '
                         f'got {dict(cfg)!r}')
    return LinearWarmup(**cfg)
