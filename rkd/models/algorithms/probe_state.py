"""Running a network for a build-time probe without changing anything a training run depends on."""
import random
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch

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
def training_mode(model: torch.nn.Module) -> Iterator[None]:
    """``model`` in train mode except its BatchNorm layers; every module's mode restored on
    exit."""
    modes = [(module, module.training) for module in model.modules()]
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


@contextmanager
def distillation_mode(model: torch.nn.Module, training: bool) -> Iterator[None]:
    """``model`` in the mode a distillation step runs it: a student in :func:`training_mode`,
    a teacher in eval mode (some backbones return other outputs in each: DDRNet adds its
    context branch's map in training); every module's mode restored on exit."""
    if training:
        with training_mode(model):
            yield
        return
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


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
