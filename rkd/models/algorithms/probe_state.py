"""Running a network for a build-time probe without changing anything a training run depends on."""
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch


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
