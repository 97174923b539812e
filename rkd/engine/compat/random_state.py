"""Exact resume: the random states a run consumes travel in its checkpoints.

Needed with mmengine 0.10.7 (``TESTED_MMENGINE``), which saves the seed (``meta['seed']``) and,
on ``--resume``, reseeds the globals with it; it does not save how far the generators have
advanced, so the augmentation after a resume repeats the draws of the first epoch. Its
``EpochBasedTrainLoop`` also restarts a resumed epoch at its first batch, so a checkpoint written
mid-epoch (``CheckpointHook(by_epoch=False)``) trains the epoch's first batches twice; and the
sampler and the workers' ``worker_init_fn`` are built with the run's seed before the checkpoint
is read, so with ``randomness.seed=None`` they shuffle and augment with a new one. This hook saves
what is missing and puts it back at the point of the data stream where it was taken.

It relies on mmengine's loops as 0.10.7 has them: ``IterBasedTrainLoop``'s
``dataloader_iterator``, a ``worker_init_fn`` that is a ``functools.partial`` with a ``seed``
keyword, ``InfiniteSampler``'s ``indices`` (tests/test_engine/test_compat/ checks each).
"""
import logging
import random
from functools import partial
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import all_gather_object
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from rkd.registry import HOOKS

from .version import check_mmengine_version

CHECKPOINT_KEY = 'random_state'


def get_random_state() -> dict:
    """The states of python's ``random``, numpy's global generator and torch's (CPU, and the
    current CUDA device's once CUDA is in use), as plain data (ints, lists, uint8 tensors) that
    ``torch.load(weights_only=True)`` reads."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state = dict(
        python=(version, tuple(internal), gauss),
        numpy=(name, keys.tolist(), int(pos), int(has_gauss), float(cached_gaussian)),
        torch=torch.get_rng_state())
    # the process's own device only: reading every device would open a context on each
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_random_state(state: dict) -> None:
    """Put back what :func:`get_random_state` returned."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached_gaussian = state['numpy']
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss,
                         cached_gaussian))
    torch.set_rng_state(state['torch'].cpu())  # a resume may map the checkpoint onto a GPU
    if state.get('cuda') is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'].cpu())


class _ResumedEpoch:
    """The train loader of the epoch a mid-epoch checkpoint was written in.

    Iterating it draws the batches the interrupted run had trained through the real loader and
    drops them, so that the sampler's order and each worker's augmentation draws advance exactly
    as they did; then ``on_caught_up`` restores the saved random state and the rest of the epoch
    is yielded. Everything else (``dataset``, ``sampler``...) is the real loader's.
    """

    def __init__(self, loader, num_trained: int, on_caught_up: Callable[[], None]) -> None:
        self.loader = loader
        self.num_trained = num_trained
        self.on_caught_up = on_caught_up

    def __iter__(self) -> Iterator:
        batches = iter(self.loader)
        for _ in range(self.num_trained):
            next(batches)
        self.on_caught_up()
        yield from batches

    def __len__(self) -> int:
        """The batches left, so that hooks see this epoch end at its last batch."""
        return len(self.loader) - self.num_trained

    def __getattr__(self, name: str):
        if name == 'loader':  # not set yet (a copy being built): not the loader's to answer
            raise AttributeError(name)
        return getattr(self.loader, name)


class _CatchUpIterator:
    """The iteration-based loop's data iterator: mmengine draws (and drops) the batches already
    trained through it; ``on_caught_up`` runs before the first new batch is drawn."""

    def __init__(self, iterator: Iterable, num_trained: int,
                 on_caught_up: Callable[[], None]) -> None:
        self.iterator = iterator
        self.left = num_trained
        self.on_caught_up = on_caught_up

    def __iter__(self) -> '_CatchUpIterator':
        return self

    def __next__(self):
        if self.left == 0:
            self.on_caught_up()
        self.left -= 1
        return next(self.iterator)


def _worker_seed(loader) -> Optional[int]:
    """The seed mmengine bakes into the loader's ``worker_init_fn`` (a partial), if any."""
    init_fn = getattr(loader, 'worker_init_fn', None)
    return init_fn.keywords.get('seed') if isinstance(init_fn, partial) else None


def _checkpoint_hooks(runner) -> List[CheckpointHook]:
    return [hook for hook in runner.hooks if isinstance(hook, CheckpointHook)]


def _saves_after_iter(hook: CheckpointHook, runner) -> bool:
    """Whether ``hook.after_train_iter`` saves now (mmengine 0.10.7's condition)."""
    return not hook.by_epoch and (
        hook.every_n_train_iters(runner, hook.interval, hook.save_begin)
        or (hook.save_last and hook.is_last_train_iter(runner)))


def _saves_after_epoch(hook: CheckpointHook, runner) -> bool:
    """Whether ``hook.after_train_epoch`` saves now (mmengine 0.10.7's condition)."""
    return hook.by_epoch and (
        hook.every_n_epochs(runner, hook.interval, hook.save_begin)
        or (hook.save_last and hook.is_last_train_epoch(runner)))


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Saves the random states into each checkpoint and restores them on ``--resume``, so that a
    run killed and resumed ends with the weights of the same run uninterrupted.

    Saved under ``checkpoint['random_state']``: each process's generators of python, numpy and
    torch (see :func:`get_random_state`), the sampler's and the workers' seeds, and the loader's
    length. On resume: the seeds go back into the sampler and ``worker_init_fn``; in an
    epoch-based loop the batches of the current epoch that were already trained are drawn and
    dropped (the iteration-based loop does this itself); the generators are restored right
    before the first new batch is drawn. Validation must not draw from the training generators
    either: pair it with :class:`~rkd.engine.hooks.ValRandomStateHook`.

    Every process's generators are saved (``generators[rank]``), though only the first process
    writes the checkpoint: mmengine saves from it alone, so the processes gather their states
    beforehand, when a ``CheckpointHook`` is about to save after this iteration or epoch, and
    before each validation (whose ``save_best`` checkpoint then holds the training states, not
    validation's). Exact in an epoch-based loop with workers that are not persistent
    (``persistent_workers=True`` keeps their generators running across epochs, which a replay of
    one epoch cannot reproduce). A checkpoint written without this hook resumes as mmengine
    resumes, with a warning.
    """

    priority = 'VERY_HIGH'  # restore before other hooks draw; gather before CheckpointHook saves

    def __init__(self) -> None:
        check_mmengine_version()
        self._resumed: Optional[dict] = None
        self._original_loader = None
        self._gathered: Optional[Tuple[int, List[dict]]] = None  # (runner.iter, states by rank)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if any(_saves_after_iter(hook, runner) for hook in _checkpoint_hooks(runner)):
            self._gather(runner)

    def before_val(self, runner) -> None:
        self._gather(runner)

    def _gather(self, runner) -> None:
        """Every process's generators, collected on each (a collective: all processes call it
        at the same point)."""
        state = get_random_state()
        states = all_gather_object(state) if runner.world_size > 1 else [state]
        self._gathered = (runner.iter, states)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        loader = self._train_loader(runner)
        sampler = getattr(loader, 'sampler', None)
        if self._gathered is not None and self._gathered[0] == runner.iter:
            generators = self._gathered[1]
        else:  # a save no CheckpointHook announced: this process's generators only
            generators = [get_random_state()]
        checkpoint[CHECKPOINT_KEY] = dict(
            generators=generators,
            sampler_seed=getattr(sampler, 'seed', None),
            worker_seed=_worker_seed(loader),
            batches_per_epoch=len(loader),
            world_size=runner.world_size)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Also called by `load_from` and by tools/test.py: `before_train` tells a resume apart.
        self._resumed = dict(meta=checkpoint.get('meta', {}),
                             state=checkpoint.get(CHECKPOINT_KEY))

    def before_train(self, runner) -> None:
        resumed, self._resumed = self._resumed, None
        if runner.iter == 0 or resumed is None or resumed['meta'].get('iter') != runner.iter:
            return  # a fresh run, or weights loaded with `load_from`
        state = resumed['state']
        if state is None:
            self._warn('the checkpoint was written without rkd.RandomStateHook, so the random '
                       'state of the data augmentation is not restored: it resumes as mmengine '
                       'does, and the result differs from an uninterrupted run.')
            return
        loader = runner.train_loop.dataloader
        if len(loader) != state['batches_per_epoch'] or runner.world_size != state['world_size']:
            self._warn(f'the checkpoint was written with {state["batches_per_epoch"]} batches '
                       f'an epoch on {state["world_size"]} process(es), this run has '
                       f'{len(loader)} on {runner.world_size}: the random state is not '
                       'restored.')
            return
        self._restore_seeds(loader, state)

        generators = state['generators']
        if isinstance(generators, dict):  # written before every rank's states were saved
            generators = [generators]

        def restore() -> None:
            if runner.rank < len(generators):
                set_random_state(generators[runner.rank])

        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            # the loop drew its first batches at build time, with the seeds before the resume
            iterator = type(loop.dataloader_iterator)(loader)
            loop.dataloader_iterator = _CatchUpIterator(iterator, runner.iter, restore)
        elif isinstance(loop, EpochBasedTrainLoop):
            if getattr(loader, 'persistent_workers', False):
                self._warn('`persistent_workers=True`: the workers\' augmentation draws '
                           'continue across epochs and are not restored exactly.')
            num_trained = runner.iter - runner.epoch * len(loader)
            if num_trained == 0:  # an epoch checkpoint: the next epoch starts afresh
                restore()
            else:
                self._original_loader = loader
                loop.dataloader = _ResumedEpoch(loader, num_trained, restore)
        else:
            self._warn(f'{type(loop).__name__} is neither of mmengine\'s train loops: the random '
                       'state is not restored.')

    def after_train_epoch(self, runner) -> None:
        if self._original_loader is not None:
            runner.train_loop.dataloader = self._original_loader
            self._original_loader = None
        if any(_saves_after_epoch(hook, runner) for hook in _checkpoint_hooks(runner)):
            self._gather(runner)

    def _train_loader(self, runner):
        if self._original_loader is not None:
            return self._original_loader
        return runner.train_loop.dataloader

    @staticmethod
    def _restore_seeds(loader, state: dict) -> None:
        """mmengine built the sampler and ``worker_init_fn`` before reading the checkpoint."""
        sampler = getattr(loader, 'sampler', None)
        seed = state['sampler_seed']
        if seed is not None and getattr(sampler, 'seed', seed) != seed:
            sampler.seed = seed
            if hasattr(sampler, 'indices'):  # InfiniteSampler draws its order at build time
                sampler.indices = sampler._indices_of_rank()
        init_fn = loader.worker_init_fn
        if state['worker_seed'] is not None and isinstance(init_fn, partial):
            loader.worker_init_fn = partial(init_fn.func, *init_fn.args,
                                            **{**init_fn.keywords, 'seed': state['worker_seed']})

    @staticmethod
    def _warn(message: str) -> None:
        print_log(f'Resume: {message}', logger='current', level=logging.WARNING)
