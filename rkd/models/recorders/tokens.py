"""Transformer tokens (N, L, C) read as feature maps (N, C, H, W).

A ViT/DeiT layer returns its extra tokens (class, distillation) first, then one token per patch,
row by row. ReviewKD distils maps, so a recorder drops the extra tokens and lays the patch tokens
on their grid. The grid is the first of these that holds the patch tokens exactly: one set in
the recorder's config, an ``(H, W)`` travelling with the tokens (a Swin stage returns one, a Swin
block is called with one), the grid the network's patch embedding made in this very forward (so
any input size works), the network's nominal ``patch_resolution``, and a square.
"""
import math
from typing import Any, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn

Grid = Tuple[int, int]


def as_grid(value: Any) -> Optional[Grid]:
    """``value`` as an ``(H, W)`` pair of ints (a tuple, list or ``torch.Size``), else None."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[1])
    return None


def grids_in(values: Iterable[Any]) -> List[Grid]:
    """The ``(H, W)`` pairs among ``values`` (a call's arguments, the elements of an output)."""
    return [grid for grid in map(as_grid, values) if grid is not None]


class TokenLayout:
    """How one recorder's (N, L, C) tokens become a map; its options are the recorder's.

    :meth:`bind` finds the module that made the tokens: the recorded module or the nearest one
    above it with a patch embedding (``patch_embed``) or a ``patch_resolution``, as mmpretrain's
    ``VisionTransformer``, ``DistilledVisionTransformer`` and ``SwinTransformer`` and mmseg's
    ``VisionTransformer`` have. It says how many extra tokens lead (``num_extra_tokens``, or
    mmseg's ``with_cls_token``) and, while the recorder is attached, which grid its patch
    embedding made.

    Args:
        source: the recorder's module name, for messages.
        grid: ``(H, W)`` of the patch tokens; None infers it.
        extra_tokens: how many tokens precede the patch tokens; None reads the network's.
    """

    def __init__(self, source: str, grid: Optional[Sequence[int]] = None,
                 extra_tokens: Optional[int] = None) -> None:
        if grid is not None and (as_grid(grid) is None or min(grid) < 1):
            raise ValueError(f'Recorder "{source}": grid must be (H, W), two positive ints, '
                             f'got {grid!r}.')
        if extra_tokens is not None and (not isinstance(extra_tokens, int) or extra_tokens < 0):
            raise ValueError(f'Recorder "{source}": extra_tokens must be an int >= 0, got '
                             f'{extra_tokens!r}.')
        self.source = source
        self.grid = None if grid is None else as_grid(grid)
        self.extra_tokens = extra_tokens
        self._handle = None
        self.live_grid: Optional[Grid] = None
        self._unbound()

    def _unbound(self) -> None:
        self.owner: Optional[str] = None  # e.g. 'backbone (VisionTransformer)', once bound
        self._owner_extra = 0
        self._nominal: Optional[Grid] = None
        self._patch_embed: Optional[nn.Module] = None

    def bind(self, model: nn.Module) -> None:
        """Find the module of ``model`` that made the tokens of ``source``, if any."""
        self._unbound()
        modules = dict(model.named_modules())
        parts = self.source.split('.') if self.source else []
        for depth in range(len(parts), -1, -1):
            name = '.'.join(parts[:depth])
            module = modules.get(name)
            patch_embed = getattr(module, 'patch_embed', None)
            if not isinstance(patch_embed, nn.Module) and \
                    not hasattr(module, 'patch_resolution'):
                continue
            self.owner = f'{name or "the model"} ({type(module).__name__})'
            self._owner_extra = int(getattr(module, 'num_extra_tokens',
                                            bool(getattr(module, 'with_cls_token', False))))
            self._nominal = as_grid(getattr(module, 'patch_resolution', None))
            self._patch_embed = patch_embed if isinstance(patch_embed, nn.Module) else None
            return

    def attach(self) -> None:
        """Watch the grid the patch embedding makes (mmcv's ``PatchEmbed`` returns
        ``(tokens, (H, W))``)."""
        self.detach()
        if self._patch_embed is not None:
            self._handle = self._patch_embed.register_forward_hook(self._watch)

    def _watch(self, module: nn.Module, args: tuple, output: Any) -> None:
        self.live_grid = next(iter(grids_in(output)), None) if isinstance(
            output, (tuple, list)) else None

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self.live_grid = None

    @property
    def extra(self) -> int:
        return self._owner_extra if self.extra_tokens is None else self.extra_tokens

    def to_map(self, tokens: torch.Tensor, passed: Sequence[Grid] = (),
               live: Optional[Grid] = None) -> torch.Tensor:
        """(N, L, C) tokens as (N, C, H, W): the extra tokens dropped, the rest on the grid.

        Args:
            tokens: the recorded tensor.
            passed: the ``(H, W)`` pairs of the call that made it (arguments, output).
            live: the grid the patch embedding made in that forward.
        """
        n, length, channels = tokens.shape
        patches = length - self.extra
        height, width = self._grid(tuple(tokens.shape), patches, passed, live)
        return tokens[:, self.extra:].transpose(1, 2).reshape(n, channels, height, width)

    def _grid(self, shape: tuple, patches: int, passed: Sequence[Grid],
              live: Optional[Grid]) -> Grid:
        found = f'Recorder "{self.source}" recorded tokens of shape {shape}'
        if patches < 1:
            raise ValueError(f'{found}, no more than its {self.extra} extra token(s). Set '
                             'extra_tokens=<number of class/distillation tokens> on it.')
        if self.grid is not None:
            if self.grid[0] * self.grid[1] != patches:
                raise ValueError(
                    f'{found}: its grid={self.grid} holds {self.grid[0] * self.grid[1]} '
                    f'patches, but {shape[1]} tokens less {self.extra} extra leave {patches}. '
                    f'Set a grid of H x W = {patches} (the input size / patch size), or '
                    'extra_tokens.')
            return self.grid
        if self.owner is None and not passed:
            raise ValueError(
                f'{found}, and no module at or above it has a patch embedding (`patch_embed`) '
                f'or a `patch_resolution` to read its grid from. Set the grid and the extra '
                f'tokens on the recorder, e.g. {_suggestion(self.source, shape[1])}.')
        root = math.isqrt(patches)
        candidates = [*((grid, 'passed with the tokens') for grid in passed),
                      (live, "this forward's patch embedding"),
                      (self._nominal, 'patch_resolution'), ((root, root), 'square')]
        candidates = [(grid, why) for grid, why in candidates if grid is not None]
        for grid, _ in candidates:
            if grid[0] * grid[1] == patches:
                return grid
        tried = ', '.join(f'{grid} ({why})' for grid, why in candidates)
        raise ValueError(
            f'{found}: less {self.extra} extra token(s) (those of {self.owner or "none"}), '
            f'{patches} patch tokens remain, which fit none of the grids tried: {tried}. Set '
            f'grid=(H, W) with H x W = {patches} on the recorder, and extra_tokens if the '
            f'network has other than {self.extra}.')


def square_layout(length: int) -> Optional[Tuple[Grid, int]]:
    """``((H, H), extra)``: ``length`` tokens as no, one or two extra tokens before a square
    grid of patch tokens, if they can be."""
    for extra in (0, 1, 2):
        root = math.isqrt(length - extra)
        if root * root == length - extra:
            return (root, root), extra
    return None


def _suggestion(source: str, length: int) -> str:
    """A recorder config that reads ``length`` tokens: no or one extra token on a square."""
    layout = square_layout(length)
    if layout is None:
        return f'dict(source={source!r}, grid=(H, W), extra_tokens=K) with K + H x W = {length}'
    grid, extra = layout
    return f'dict(source={source!r}, grid={grid}, extra_tokens={extra})'
