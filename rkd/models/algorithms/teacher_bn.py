"""How the frozen teacher's BatchNorm layers normalise: with their stored statistics (eval), or
with each batch's, as the official ReviewKD CIFAR code's teacher did.

The official CIFAR-100 training script never puts its teacher in eval mode, so its BN layers
normalise with the statistics of every batch (and overwrite the stored ones). ``'batch_stats'``
reproduces what the teacher computes there and leaves its stored statistics untouched; every
other layer stays in eval mode (dropout and drop-path off).
"""
from contextlib import contextmanager
from typing import Iterator

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

BN_MODES = ('eval', 'batch_stats')


def check_bn_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`BN_MODES`, else a ValueError naming them."""
    if mode not in BN_MODES:
        raise ValueError(f'teacher bn_mode must be one of {BN_MODES} (\'eval\': the stored '
                         'statistics, the default; \'batch_stats\': each batch\'s, as the '
                         f'official CIFAR code), got {mode!r}')
    return mode


@contextmanager
def teacher_bn_mode(teacher: nn.Module, mode: str) -> Iterator[None]:
    """Inside the block, with ``mode='batch_stats'``, every BN layer of ``teacher`` normalises
    with the batch's statistics and updates none of its stored ones; with ``'eval'`` nothing
    changes. The layers' previous state comes back on exit.

    In torch a BN layer in training mode that does not track running statistics uses the batch
    statistics and neither reads nor writes ``running_mean``, ``running_var`` and
    ``num_batches_tracked``.
    """
    if check_bn_mode(mode) == 'eval':
        yield
        return
    norms = [m for m in teacher.modules() if isinstance(m, _BatchNorm)]
    previous = [(m.training, m.track_running_stats) for m in norms]
    for m in norms:
        m.training, m.track_running_stats = True, False
    try:
        yield
    finally:
        for m, (training, track) in zip(norms, previous):
            m.training, m.track_running_stats = training, track
