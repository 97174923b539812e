"""Exact, cheap stand-ins for ``F.interpolate(x, size, mode='nearest')``.

PyTorch's CPU nearest kernel is several times slower than a copy (and a map that is only multiplied
after resizing need not be resized at all: :mod:`.fusion` broadcasts it). The index map is read
from ``F.interpolate`` itself, so every helper picks exactly the pixels it would.
"""
from functools import lru_cache
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .layout import blocks, cells, nhwc


@lru_cache(maxsize=None)
def nearest_index(in_size: int, out_size: int) -> Tuple[int, ...]:
    """Source index of each output position, as ``F.interpolate(mode='nearest')`` picks it."""
    src = torch.arange(in_size, dtype=torch.float32).view(1, 1, in_size)
    return tuple(int(i) for i in F.interpolate(src, size=out_size, mode='nearest').view(-1))


@lru_cache(maxsize=None)
def up_factor(in_size: int, out_size: int) -> Optional[int]:
    """``f`` when the resize repeats every source pixel ``f`` times in order, else None."""
    if out_size % in_size:
        return None
    f = out_size // in_size
    return f if nearest_index(in_size, out_size) == tuple(i // f for i in range(out_size)) else None


@lru_cache(maxsize=None)
def down_factor(in_size: int, out_size: int) -> Optional[int]:
    """``f`` when the resize keeps every ``f``-th source pixel from the first, else None."""
    if in_size % out_size:
        return None
    f = in_size // out_size
    return f if nearest_index(in_size, out_size) == tuple(range(0, in_size, f)) else None


def nearest_resize(x: Tensor, size: Sequence[int],
                   memory_format: torch.memory_format = torch.contiguous_format) -> Tensor:
    """``F.interpolate(x, size, mode='nearest')`` by a broadcast copy, a strided slice or a
    gather; the result is in ``memory_format`` (``x`` itself when the size already matches)."""
    (h, w), (oh, ow) = x.shape[-2:], tuple(size)
    if (h, w) == (oh, ow):
        return x
    fh, fw = up_factor(h, oh), up_factor(w, ow)
    if fh and fw:
        out = torch.empty((*x.shape[:2], oh, ow), dtype=x.dtype, device=x.device,
                          memory_format=memory_format)
        blocks(nhwc(out), (fh, fw)).copy_(cells(nhwc(x)))
        return out
    sh, sw = down_factor(h, oh), down_factor(w, ow)
    if sh and sw:
        return x[:, :, ::sh, ::sw].contiguous(memory_format=memory_format)
    rows = torch.tensor(nearest_index(h, oh), device=x.device)
    cols = torch.tensor(nearest_index(w, ow), device=x.device)
    return x[:, :, rows[:, None], cols].contiguous(memory_format=memory_format)
