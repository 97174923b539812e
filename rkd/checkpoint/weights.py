"""Loading a checkpoint's weights into a model, with an error that says what does not fit."""
import re
from typing import Any, Callable, Dict, List, Optional

import torch
from mmengine.logging import print_log
from torch import nn

from .safe_loading import CheckpointLoadError, checkpoint_role, safe_load_checkpoint

# Prefixes a wrapper adds to saved keys (DDP's ``module.``), removed as mmengine does.
WRAPPER_PREFIX = re.compile(r'^module\.')
# Where a checkpoint keeps its weights, looked for in this order: mmengine's runner and
# torch.save(state_dict) wrappers ('state_dict'); DeiT, Swin and many research repositories
# ('model'); an mmengine EMAHook's averaged copy alone ('ema_state_dict', its step count left
# out). A file with none of them is taken as a bare state dict.
WEIGHT_KEYS = ('state_dict', 'model', 'ema_state_dict')
EMA_BOOKKEEPING = ('steps', )


def load_weights(model: nn.Module, filename: str, role: str, strict: bool = True,
                 map_location: Any = 'cpu',
                 entries: Optional[Callable[[dict], dict]] = None,
                 hint: str = 'Check that the checkpoint belongs to this config.') -> dict:
    """Load the weights of checkpoint ``filename`` (its ``state_dict``, or the file itself if it
    is a bare state dict) into ``model`` and return the checkpoint. ``entries``, if given, maps
    that state dict to the model's part of it (a backbone teacher's, from a classifier's file);
    ``hint`` ends the error of a checkpoint that does not fit.

    Nothing is loaded when an entry has another shape than the model's, or, with ``strict``,
    when entries are missing or unexpected: the error names the role and the file, counts each
    kind of misfit and gives a few names. Without ``strict`` these are logged as a warning.
    """
    with checkpoint_role(role, filename):
        checkpoint = safe_load_checkpoint(filename, map_location=map_location)
    state_dict = _weights_of(checkpoint, f'The {role} "{filename}"')
    if not isinstance(state_dict, dict):
        raise CheckpointLoadError(f'The {role} "{filename}" holds no state dict '
                                  f'(it is a {type(checkpoint).__name__}).')
    state_dict = {WRAPPER_PREFIX.sub('', key): value for key, value in state_dict.items()}
    if entries is not None:
        state_dict = entries(state_dict)
    state_dict = without_aliases(model, state_dict)
    misfit = _misfit(model, state_dict)
    if misfit['of another shape'] or (strict and any(misfit.values())):
        raise CheckpointLoadError(
            f'The {role} "{filename}" does not fit the model: {_describe(misfit)}. {hint}')
    if any(misfit.values()):
        print_log(f'The {role} "{filename}" does not fit the model exactly: '
                  f'{_describe(misfit)}.', logger='current', level=30)
    model.load_state_dict(state_dict, strict=False)
    return checkpoint


def _weights_of(checkpoint: Any, what: str) -> Optional[dict]:
    """The state dict of ``checkpoint`` under the first of :data:`WEIGHT_KEYS` it has, else
    the checkpoint itself; None if it is no dict."""
    if not isinstance(checkpoint, dict):
        return None
    key = next((key for key in WEIGHT_KEYS if isinstance(checkpoint.get(key), dict)), None)
    if key is None:
        return checkpoint
    if key != 'state_dict':
        print_log(f'{what} keeps its weights under "{key}": loading those.', logger='current')
    return {name: value for name, value in checkpoint[key].items()
            if key != 'ema_state_dict' or name not in EMA_BOOKKEEPING}


def without_aliases(model: nn.Module, state_dict: dict) -> dict:
    """``state_dict`` without the entries that repeat, under a name ``model`` does not have, a
    tensor the file also holds under a name it has: a model that attaches one of its modules to
    another in training (DDQ-DETR's decoder takes its head's ``aux_reg_branches`` at the first
    step) saves that module twice, and a new model knows the first name only. They carry
    nothing of their own (the same storage), so they are dropped, and logged."""
    expected = set(model.state_dict())

    def place(tensor: torch.Tensor) -> tuple:
        return (tensor.untyped_storage().data_ptr(), tensor.storage_offset(),
                tuple(tensor.shape), tensor.stride())

    held = {place(value) for key, value in state_dict.items()
            if key in expected and isinstance(value, torch.Tensor)}
    aliases = [key for key, value in state_dict.items() if key not in expected
               and isinstance(value, torch.Tensor) and value.numel() and place(value) in held]
    if aliases:
        print_log(f'Left out {len(aliases)} entries of the checkpoint that repeat tensors it holds '
                  f'under the model\'s own names (e.g. {", ".join(aliases[:3])}): a module '
                  'attached to another during training.', logger='current')
    return {key: value for key, value in state_dict.items() if key not in aliases}


def _misfit(model: nn.Module, state_dict: dict) -> Dict[str, List[str]]:
    """The entries that keep ``state_dict`` from loading strictly into ``model``, by kind.

    Missing: what the model's own ``state_dict()`` holds (rkd's algorithm leaves its teacher
    out) and the file lacks. Unexpected: what the file holds and the model has no tensor for.
    """
    # every name of a shared tensor: state_dict() has one entry per name (DETR heads list one
    # branch module several times), named_parameters() only the first
    tensors = {**dict(model.named_parameters(remove_duplicate=False)),
               **dict(model.named_buffers(remove_duplicate=False))}
    return {
        'of another shape': [
            f'{key} (file {tuple(state_dict[key].shape)}, model {tuple(value.shape)})'
            for key, value in tensors.items()
            if hasattr(state_dict.get(key), 'shape') and state_dict[key].shape != value.shape],
        'missing from the file': [key for key in model.state_dict() if key not in state_dict],
        'unexpected in the file': [key for key in state_dict if key not in tensors],
    }


def _describe(misfit: Dict[str, List[str]]) -> str:
    return '; '.join(f'{len(names)} {kind} (e.g. {", ".join(names[:3])})'
                     for kind, names in misfit.items() if names)
