"""Memory over a long run: what the training process holds after a first stretch of iterations
and at the end. Recorders, hooks and losses must hold nothing across steps (a recorded map kept
by mistake keeps its whole autograd graph), so resident memory and the number of live tensors
stay flat however long the run is."""
import gc
import math
import os
import warnings
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from rkd.apis import build_runner


def resident_bytes() -> int:
    """The resident set size of this process (Linux: ``/proc/self/statm``)."""
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def live_tensors() -> int:
    """The tensors Python can reach right now, after a full garbage collection."""
    gc.collect()
    with warnings.catch_warnings():  # isinstance() on torch's deprecated aliases warns
        warnings.simplefilter('ignore', FutureWarning)
        return sum(1 for obj in gc.get_objects() if isinstance(obj, torch.Tensor))


@dataclass
class Reading:
    """What the process holds after iteration ``iteration`` (1-based)."""
    iteration: int
    resident_bytes: int
    live_tensors: int


@dataclass
class SoakResult:
    start: Reading
    end: Reading

    @property
    def growth(self) -> float:
        """Resident memory growth from start to end, as a fraction of the start."""
        return self.end.resident_bytes / self.start.resident_bytes - 1

    def report(self) -> str:
        return '\n'.join([
            f'{"":10}{"iteration":>10}{"RSS (MiB)":>12}{"tensors":>10}',
            *(f'{name:10}{r.iteration:>10}{r.resident_bytes / 2**20:>12.1f}{r.live_tensors:>10}'
              for name, r in (('start', self.start), ('end', self.end))),
            f'RSS growth: {100 * self.growth:+.2f}% over '
            f'{self.end.iteration - self.start.iteration} iterations; live tensors '
            f'{self.end.live_tensors - self.start.live_tensors:+d}'])


class ResidentMemoryHook(Hook):
    """Reads the process after iteration ``start_iter`` and after the last one, once every other
    hook of the iteration has run (logging, checkpoints, validation)."""

    priority = 'LOWEST'

    def __init__(self, start_iter: int) -> None:
        self.start_iter = start_iter
        self.readings: Dict[str, Reading] = {}

    def after_train_iter(self, runner: Runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        iteration = runner.iter + 1
        if iteration == self.start_iter or iteration == runner.max_iters:
            key = 'start' if iteration == self.start_iter else 'end'
            self.readings[key] = Reading(iteration, resident_bytes(), live_tensors())


def soak_config(cfg: Config, iters: int) -> Tuple[Config, int]:
    """``cfg`` trained for whole epochs of at least ``iters`` iterations, without the learning
    rate schedule (this measures memory, not accuracy); the iterations it will run."""
    cfg = cfg.copy()
    per_epoch = len(Runner.build_dataloader(cfg.train_dataloader))
    if cfg.train_cfg.get('by_epoch', True):
        epochs = math.ceil(iters / per_epoch)
        cfg.train_cfg.max_epochs = epochs
        iters = epochs * per_epoch
    else:
        cfg.train_cfg.max_iters = iters
    cfg.param_scheduler = None
    return cfg, iters


def soak(cfg: Config, iters: int = 2000, start_iter: Optional[int] = None) -> SoakResult:
    """Train ``cfg`` for about ``iters`` iterations, reading the process after ``start_iter``
    (default: a tenth of the run, once the allocator's pools and lazy buffers have grown to
    their working size) and at the end."""
    cfg, iters = soak_config(cfg, iters)
    start_iter = max(1, iters // 10) if start_iter is None else start_iter
    if not 0 < start_iter < iters:
        raise ValueError(f'start_iter must be between 1 and the {iters} iterations, got '
                         f'{start_iter}')
    hook = ResidentMemoryHook(start_iter)
    runner = build_runner(cfg)
    runner.register_hook(hook)
    runner.train()
    return SoakResult(hook.readings['start'], hook.readings['end'])
