"""Running a network for a build-time probe without changing anything a training run depends on."""
import random
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import MessageHub

from .synthetic_batch import task_of

# Modules the task models run in ``extract_feat`` (mmpretrain, mmdet and mmseg alike).
FEATURE_MODULES = ('backbone', 'neck')


@contextmanager
def preserved_random_state() -> Iterator[None]:
    """Restore the CPU random states of torch, numpy and Python (samplers and dropout draw from
    them) on exit, so building a model does not shift the random stream of training."""
    states = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])


@contextmanager
def first_step_runtime_info() -> Iterator[None]:
    """Inside the block, the current message hub says epoch and iter 0 where it says nothing,
    as mmengine's ``RuntimeInfoHook`` says from the first training step: a build-time probe runs
    before the runner's loop, and some heads read them (TOOD's picks its assigner by epoch,
    BoxInst's warms up by iter). What it set is taken back on exit."""
    hub = MessageHub.get_current_instance()
    unset = [key for key in ('epoch', 'iter') if hub.get_info(key) is None]
    for key in unset:
        hub.update_info(key, 0)
    try:
        yield
    finally:
        for key in unset:
            hub.runtime_info.pop(key, None)


@contextmanager
def training_mode(model: torch.nn.Module) -> Iterator[None]:
    """``model`` in train mode except its BatchNorm layers; every module's mode restored on
    exit."""
    with distillation_mode(model, training=True):
        yield


@contextmanager
def distillation_mode(model: torch.nn.Module, training: bool) -> Iterator[None]:
    """``model`` in the mode a distillation step runs it: a student in train mode except its
    BatchNorm layers (they would update their statistics), a teacher in eval mode (some
    backbones return other outputs in each: DDRNet adds its context branch's map in training);
    every module's mode restored on exit."""
    modes = [(module, module.training) for module in model.modules()]
    model.train(training)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


@contextmanager
def probing(model: torch.nn.Module, training: bool = True) -> Iterator[None]:
    """What a build-time probe runs ``model`` under: no gradients, the random state and the
    message hub restored on exit, ``model`` in the mode a distillation step runs it."""
    with torch.no_grad(), preserved_random_state(), first_step_runtime_info(), \
            distillation_mode(model, training):
        yield


def stops_at_features(sources: Sequence[str]) -> bool:
    """Whether recorders of these modules all run in ``extract_feat`` (backbone and neck, in
    mmpretrain, mmdet and mmseg alike): a teacher recorded only there stops before its head."""
    return all(source.split('.')[0] in FEATURE_MODULES for source in sources)


def step(model: torch.nn.Module, training: bool,
         sources: Optional[Sequence[str]] = None) -> Callable:
    """What a distillation step calls on ``model``: a student's ``loss``; a teacher recorded at
    ``sources``, ``extract_feat`` when they all run there, else its forward in ``'tensor'``
    mode. Without ``sources`` (its levels being found), a classifier teacher's whole forward (a
    ViT's head reads the class token) and a detector's or segmentor's ``extract_feat`` (their
    levels are neck or backbone outputs, and some of their heads need more than a tensor
    forward: mmseg's MaskFormer wants data samples, DDRNet's the training-only context map)."""
    if training:
        return model.loss
    features_only = stops_at_features(sources) if sources is not None \
        else task_of(model) != 'mmpretrain'
    if features_only:
        return lambda inputs, samples: model.extract_feat(inputs)
    return lambda inputs, samples: model(inputs, samples, mode='tensor')
