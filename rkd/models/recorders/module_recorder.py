"""Record a module's input or output through forward hooks, addressed by its dotted name."""
import difflib
from collections import deque
from typing import Any, List, Optional, Sequence, Union

import torch
from torch import nn

from rkd.registry import TASK_UTILS

from .tokens import Grid, TokenLayout, as_grid, grids_in


def find_module(model: nn.Module, name: str, network: str = 'the model') -> nn.Module:
    """The sub-module called ``name`` in ``model.named_modules()``, or an error naming the
    network and close matches, so a typo in a config is fixed in one look."""
    modules = dict(model.named_modules())
    if name in modules:
        return modules[name]
    close = difflib.get_close_matches(name, modules.keys(), n=5, cutoff=0.6)
    hint = f' Close matches: {close}.' if close else ''
    raise LookupError(f'No module named "{name}" in {network} ({type(model).__name__}).{hint} '
                      'Names are dotted paths of `model.named_modules()`, e.g. "backbone.layer1".')


def as_feature_map(tensor: torch.Tensor, source: str,
                   tokens: Optional[TokenLayout] = None, passed: Sequence[Grid] = (),
                   live: Optional[Grid] = None) -> torch.Tensor:
    """(N, C) embeddings become (N, C, 1, 1) maps, (N, L, C) tokens (N, C, H, W) maps laid out
    by ``tokens`` from the grids seen with them (see :meth:`TokenLayout.to_map`); (N, C, H, W)
    maps pass unchanged."""
    if tensor.dim() == 2:
        return tensor[:, :, None, None]
    if tensor.dim() == 3:
        return (tokens or TokenLayout(source)).to_map(tensor, passed, live)
    if tensor.dim() == 4:
        return tensor
    raise ValueError(
        f'Recorder "{source}" recorded a tensor of shape {tuple(tensor.shape)}; only (N, C) '
        'embeddings, (N, L, C) tokens and (N, C, H, W) maps can be distilled. Record another '
        'module (tools/analysis_tools/list_features.py prints every module\'s output shapes) '
        'or an `element` of a tuple output.')


def recorder_list(recorders: Sequence[Union[str, dict, 'ModuleRecorder']],
                  network: str) -> list:
    """``recorders`` as a list; a string (``'auto'``, a lone module name) is refused with what
    to write instead."""
    if isinstance(recorders, str):
        raise ValueError(
            f'The recorders of {network} are a list, got the string {recorders!r}; \'auto\' '
            '(levels paired by stride) is resolved by rkd.SingleTeacherDistill, as '
            '`model.distiller.student_recorders` / `teacher_recorders`.')
    return list(recorders)


@TASK_UTILS.register_module()
class ModuleRecorder:
    """Records what one module receives or returns during the forward passes of one step.

    Args:
        source: dotted name of the module in ``named_modules()``.
        io: ``'output'`` or ``'input'`` (the first positional argument).
        call: which call of the module within the step; negative counts from the last, which is
            how the pre-activation of a ResNet block is reached (its ``relu`` runs twice).
        element: for a tuple/list value, the index of the element to keep; ``None`` keeps all
            elements as separate features (an FPN tuple yields five).
        clone: copy the value when it is recorded. Inputs are cloned by default because an
            in-place module (``ReLU(inplace=True)``) overwrites them; a later in-place change of
            an uncloned output is detected and reported.
        grid: ``(H, W)`` of recorded (N, L, C) transformer tokens. The tokens of a ViT/DeiT
            layer or a Swin stage or block need no option: their grid is the first of these
            that holds the patch tokens exactly: an ``(H, W)`` passed or returned with them
            (Swin), the grid the network's patch embedding made in that forward, its nominal
            ``patch_resolution``, a square. Set it when none fits.
        extra_tokens: how many tokens precede the patch tokens and are dropped (the class
            token, DeiT's distillation token); by default the network's ``num_extra_tokens``
            (0 for a network without any). To distil the class token itself, record the input
            of the head's classifier instead, e.g. ``dict(source='head.layers.head',
            io='input')``.

    Example: a DeiT-S layer, 1 class + 14 x 14 patch tokens of 384 channels at 224 px,
    recorded as a (N, 384, 14, 14) map: ``'backbone.layers.11'``, or with the options spelled
    out, ``dict(source='backbone.layers.11', grid=(14, 14), extra_tokens=1)``.
    """

    def __init__(self,
                 source: str,
                 io: str = 'output',
                 call: int = -1,
                 element: Optional[int] = None,
                 clone: Optional[bool] = None,
                 grid: Optional[Sequence[int]] = None,
                 extra_tokens: Optional[int] = None) -> None:
        if io not in ('output', 'input'):
            raise ValueError(f'Recorder "{source}": io must be "output" or "input", got "{io}".')
        self.source = source
        self.io = io
        self.call = call
        self.element = element
        self.clone = io == 'input' if clone is None else clone
        self.tokens = TokenLayout(source, grid, extra_tokens)
        self._handle = None
        self._calls = 0
        self._kept: Union[deque, List] = deque()

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(source={self.source!r}, io={self.io!r}, '
                f'call={self.call}, element={self.element})')

    def attach(self, module: nn.Module) -> None:
        """Start recording ``module`` (the one named ``source``); earlier values are dropped."""
        self.detach()
        self.reset()
        self.tokens.attach()
        if self.io == 'input':
            self._handle = module.register_forward_pre_hook(
                lambda mod, args: self._record(args[0] if args else None, args))
        else:
            self._handle = module.register_forward_hook(
                lambda mod, args, output: self._record(
                    output, (*(output if isinstance(output, (tuple, list)) else ()), *args)))

    def detach(self) -> None:
        self.tokens.detach()
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def reset(self) -> None:
        self._calls = 0
        # Keep only the call we will return: memory stays flat however often a module runs.
        self._kept = deque(maxlen=-self.call) if self.call < 0 else []

    def _record(self, value: Any, context: Sequence[Any]) -> None:
        """Keep ``value``'s tensors, with the grids tokens could have: the ``(H, W)`` pairs in
        ``context`` (the output's elements, the arguments) and the live patch grid."""
        index = self._calls
        self._calls += 1
        if self.call >= 0 and index != self.call:
            return
        tensors = self._select(value)
        if self.clone:
            tensors = [t.clone() for t in tensors]
        self._kept.append(([(t, t._version) for t in tensors], grids_in(context),
                           self.tokens.live_grid))

    def _select(self, value: Any) -> List[torch.Tensor]:
        if isinstance(value, torch.Tensor):
            values = [value]
        elif isinstance(value, (tuple, list)):
            values = list(value)
        else:
            raise TypeError(f'Recorder "{self.source}" ({self.io}) got a {type(value).__name__}; '
                            'only tensors and tuples/lists of tensors can be recorded.')
        if self.element is not None and not isinstance(value, (tuple, list)):
            raise IndexError(f'Recorder "{self.source}": element {self.element} asked, but the '
                             f'{self.io} is a single tensor, not a tuple or list: remove '
                             '`element`.')
        if self.element is not None:
            if not -len(values) <= self.element < len(values):
                raise IndexError(f'Recorder "{self.source}": element {self.element} asked, but '
                                 f'the {self.io} is a sequence of {len(values)}.')
            values = [values[self.element]]
        else:  # an (H, W) next to tokens (a Swin stage's output) is their grid, not a feature
            values = [v for v in values if as_grid(v) is None]
        for v in values:
            if not isinstance(v, torch.Tensor):
                raise TypeError(
                    f'Recorder "{self.source}" ({self.io}) got a {type(v).__name__} in its '
                    f'{type(value).__name__}; only tensors can be recorded. Set `element` to '
                    'the index of a tensor, or record the module that makes it.')
        return values

    def recorded_ranks(self) -> List[int]:
        """The dimensions of each recorded tensor before :meth:`features` makes it a map: 2 for
        an (N, C) embedding, 3 for tokens, 4 for a map."""
        return [tensor.dim() for tensor, _ in self._kept[0][0]] if self._kept else []

    def features(self) -> List[torch.Tensor]:
        """The recorded feature maps of the chosen call, each (N, C, H, W)."""
        wanted = self.call if self.call >= 0 else self._calls + self.call
        if not 0 <= wanted < self._calls or not self._kept:
            raise RuntimeError(f'Recorder "{self.source}" wanted call {self.call} of the '
                               f'{self.io}, but the module ran {self._calls} time(s) this step.')
        record, passed, live = self._kept[0]
        for tensor, version in record:
            if tensor._version != version:
                raise RuntimeError(
                    f'Recorder "{self.source}": the recorded {self.io} was modified in place '
                    'after it was recorded (an in-place activation follows the module?). '
                    'Set clone=True for this recorder.')
        return [as_feature_map(tensor, self.source, self.tokens, passed, live)
                for tensor, _ in record]
