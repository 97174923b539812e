"""Linear warm-up of the distillation weight, read off mmengine's message hub."""
from numbers import Integral

from mmengine.logging import MessageHub


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
