"""The levels ReviewKD distils in a task model, found by running one training step of it.

:func:`explore` runs ``model.loss`` on a synthetic batch of the model's task (as rkd's
build-time probe does) and records each module's calls and outputs; :func:`natural_levels`
picks from them the multi-level features the paper distils: a detector's or segmentor's neck
outputs (FPN levels), else the backbone's stage outputs, plus a classifier's pooled embedding.
``'auto'`` recorders (``stride_pairing.py``) and ``tools/analysis_tools/list_features.py`` start
from them.
"""
import contextlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..recorders.tokens import TokenLayout, square_layout
from .probe_state import probing, step
from .synthetic_batch import synthetic_batch, task_of

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.LeakyReLU, nn.Sigmoid)
# Dots in the deepest module name a level is taken from ('backbone.stages.0').
LEVEL_DEPTH = 2
# Children of a backbone that are its stem, not a stage.
STEM_NAMES = ('stem', 'conv1', 'bn1', 'relu', 'maxpool', 'norm0', 'conv0')


@dataclass
class ModuleRecord:
    """The calls of one module in a training step."""

    name: str
    type: str
    calls: int = 0
    shapes: List[Tuple[int, ...]] = field(default_factory=list)  # last call, one per tensor
    signed: List[bool] = field(default_factory=list)  # per tensor: has negative values
    order: int = -1  # position of its first call in the step
    is_leaf: bool = True
    is_activation: bool = False
    is_sequence: bool = False  # the output is a tuple or list (its maps are elements)
    elements: List[int] = field(default_factory=list)  # per tensor: its index in that sequence
    length: int = 1  # of that sequence
    modified_in_place: bool = False  # the output was overwritten later in the step
    kept: list = field(default_factory=list, repr=False)  # (tensor, version), during the step

    @property
    def activation(self) -> str:
        """``'post'``: an activation's output, or non-negative everywhere; else ``'pre'``."""
        if self.is_activation:
            return 'post'
        return 'pre' if any(self.signed) else 'post'


def _tensors(output: Any) -> List[Tuple[int, torch.Tensor]]:
    """The tensors of a module's output with their index in it (0 for a lone tensor): a tuple
    may hold other things too (InceptionV3's backbone returns ``(None, x)`` outside training)."""
    if isinstance(output, torch.Tensor):
        return [(0, output)]
    if isinstance(output, (tuple, list)):
        return [(i, item) for i, item in enumerate(output) if isinstance(item, torch.Tensor)]
    return []


@contextlib.contextmanager
def _recording(model: nn.Module) -> Iterator[Dict[str, ModuleRecord]]:
    records: Dict[str, ModuleRecord] = {}
    counter = iter(range(10**9))

    def start(entry: ModuleRecord):
        def record(_module, _inputs) -> None:
            entry.order = next(counter) if entry.order < 0 else entry.order
        return record

    def end(entry: ModuleRecord):
        def record(_module, _inputs, output) -> None:
            indexed = _tensors(output)
            tensors = [t for _, t in indexed]
            entry.calls += 1
            entry.is_sequence = isinstance(output, (tuple, list))
            entry.elements = [i for i, _ in indexed]
            entry.length = len(output) if entry.is_sequence else 1
            entry.shapes = [tuple(t.shape) for t in tensors]
            entry.signed = [bool((t < 0).any()) if t.is_floating_point() else False
                            for t in tensors]
            if entry.name.count('.') <= LEVEL_DEPTH:  # where levels are looked for
                entry.kept = [(t, t._version) for t in tensors]
        return record

    handles = []
    for name, module in model.named_modules():
        if not name:
            continue
        entry = records[name] = ModuleRecord(
            name, type(module).__name__, is_leaf=not any(True for _ in module.children()),
            is_activation=isinstance(module, ACTIVATIONS))
        handles += [module.register_forward_pre_hook(start(entry)),
                    module.register_forward_hook(end(entry))]
    try:
        yield records
    finally:
        for handle in handles:
            handle.remove()
        for entry in records.values():
            entry.modified_in_place = any(t._version != v for t, v in entry.kept)
            entry.kept = []


def explore(model: nn.Module, input_size: Sequence[int] = (64, 64), channels: int = 3,
            batch_size: int = 2, training: bool = True) -> List[ModuleRecord]:
    """The modules ``model`` runs in one training step (``model.loss`` on a synthetic batch of
    its task, no gradients, state untouched), in the order they first run; with ``training``
    False, what a distillation runs of its teacher, in eval mode (``probe_state.step``)."""
    inputs, samples = synthetic_batch(model, batch_size, input_size, channels)
    with probing(model, training), _recording(model) as records:
        step(model, training)(inputs, samples)
    return sorted((r for r in records.values() if r.calls), key=lambda r: r.order)


# A recorder as a config writes it: a module name, or a dict with its options.
Recorder = Union[str, Dict[str, Any]]


@dataclass
class Level:
    """One natural feature level: how to record it, its shape, and its pre-activation twin."""

    recorder: Recorder
    shape: Tuple[int, ...]
    activation: str
    pre_activation: Optional[Recorder] = None
    # the module whose whole output is this level and its siblings (an FPN's neck), if any
    whole_output: Optional[str] = None


def natural_levels(model: nn.Module, records: List[ModuleRecord]) -> List[Level]:
    """The levels ReviewKD distils, shallow -> deep: a detector's or segmentor's neck outputs
    (FPN levels); else the backbone's stage outputs (each element of a multi-scale output, or its
    non-stem child stages), plus a classifier's pooled embedding."""
    by_name = {r.name: r for r in records}
    return [_copied_if_overwritten(level, by_name) for level in _levels(model, records)]


def _copied_if_overwritten(level: Level, by_name: Dict[str, ModuleRecord]) -> Level:
    """``level``, recorded as a copy where its module's output is overwritten later in the
    step (a TNT adds into its blocks' outputs in place): the recorder would refuse it."""
    recorder = level.recorder
    source = recorder if isinstance(recorder, str) else recorder['source']
    if isinstance(recorder, dict) and recorder.get('io') == 'input' \
            or not by_name[source].modified_in_place:
        return level
    level.recorder = dict(source=recorder) if isinstance(recorder, str) else dict(recorder)
    level.recorder['clone'] = True
    return level


def _levels(model: nn.Module, records: List[ModuleRecord]) -> List[Level]:
    by_name = {r.name: r for r in records}
    levels: List[Level] = []
    neck_maps = _elements(by_name['neck']) if 'neck' in by_name else []
    if task_of(model) != 'mmpretrain' and neck_maps:  # a detector's, segmentor's, FPN teacher's
        return neck_maps
    backbone = by_name.get('backbone')
    stages = _stages(records, by_name)
    if backbone is not None and sum(len(s) == 4 for s in backbone.shapes) >= 2:
        levels += _elements(backbone)
        for level in levels:  # the stage that made each element, by shape, in order
            stage = next((r for r in stages if r.shapes[0] == level.shape), None)
            if stage is not None:
                stages = stages[stages.index(stage) + 1:]
                level.pre_activation = _pre_activation(stage, records)
    elif stages:
        levels += [Level(r.name, r.shapes[0], r.activation, _pre_activation(r, records))
                   for r in _last_of_each_size(stages)]
    else:
        levels += _token_levels(model, by_name, records)
    if task_of(model) in ('mmdet', 'mmseg'):  # a backbone teacher may pool, as a classifier
        return levels
    neck, head_input = by_name.get('neck'), by_name.get('head.layers.head')
    if neck is not None and neck.shapes and len(neck.shapes[-1]) == 2:
        levels.append(_pooled(neck))
    elif levels and head_input is not None:
        # a ViT classifier has no neck: its head reads the class token
        last = levels[-1].shape
        channels = last[-1] if len(last) == 3 else last[1]  # (N, L, C) tokens or a map
        levels.append(Level(dict(source=head_input.name, io='input'), (last[0], channels),
                            'pre'))
    elif backbone is not None and backbone.shapes and len(backbone.shapes[-1]) == 2:
        levels.append(_pooled(backbone))  # a backbone that pools itself (ConvNeXt)
    return levels


def _pooled(record: ModuleRecord) -> Level:
    """The (N, C) embedding a module returns, alone or last of a tuple."""
    if record.length == 1:  # a tensor, or a tuple of it alone: the whole output
        return Level(record.name, record.shapes[-1], record.activation)
    last = record.elements[-1] - record.length  # counted from the end, as -1 for the last
    return Level(dict(source=record.name, element=last), record.shapes[-1], record.activation)


def _stages(records: List[ModuleRecord], by_name: Dict[str, ModuleRecord]
            ) -> List[ModuleRecord]:
    """The backbone's stages that output one (N, C, H, W) map, in the order they run: its
    non-stem children, or the children of a container that never runs itself (the
    ``ModuleList`` of stages of a ConvNeXt, an EfficientNet, a MobileViT)."""
    found = []
    for record in records:
        parts = record.name.split('.')
        if parts[0] != 'backbone' or len(parts) not in (2, 3) or parts[1] in STEM_NAMES \
                or record.is_leaf or len(record.shapes) != 1 or len(record.shapes[0]) != 4:
            continue
        if len(parts) == 2 or '.'.join(parts[:2]) not in by_name:
            found.append(record)
    return found


def _last_of_each_size(stages: List[ModuleRecord]) -> List[ModuleRecord]:
    """Of consecutive stages with maps of one size, the last: where a stride ends (a
    MobileNetV2's layers 2, 3, 5, 7, as the paper's CIFAR code distils)."""
    return [stage for stage, after in zip(stages, [*stages[1:], None])
            if after is None or after.shapes[0][2:] != stage.shapes[0][2:]]


def _token_levels(model: nn.Module, by_name: Dict[str, ModuleRecord],
                  records: List[ModuleRecord], count: int = 4) -> List[Level]:
    """A transformer backbone's (N, L, C) blocks, ``count`` of them evenly spaced, the last
    through the final norm when it ran; recorders turn their tokens into maps. A block that
    also returns other tokens (a TNT's pixel tokens, N * L of them) gives the image's."""
    backbone = by_name.get('backbone')
    batch = backbone.shapes[-1][0] if backbone is not None and backbone.shapes else None
    blocks = []
    for record in records:
        if record.name.count('.') != 2 or \
                not record.name.startswith(('backbone.layers.', 'backbone.stages.')):
            continue
        image_tokens = [i for i, shape in enumerate(record.shapes)
                        if len(shape) == 3 and batch in (None, shape[0])]
        if image_tokens:
            blocks.append((record, image_tokens[0]))
    if not blocks:
        return []
    step = len(blocks) / min(count, len(blocks))
    chosen = [blocks[round(step * (i + 1)) - 1] for i in range(min(count, len(blocks)))]
    final_norm = by_name.get('backbone.ln1')
    if final_norm is not None and final_norm.shapes and len(final_norm.shapes[0]) == 3:
        chosen[-1] = (final_norm, 0)
    return [Level(_token_recorder(model, r, i), r.shapes[i], r.activation) for r, i in chosen]


def _token_recorder(model: nn.Module, record: ModuleRecord, index: int) -> Recorder:
    """The recorder of the ``index``-th tensor of ``record``, tokens: with their grid and
    extra tokens where no module above it says them (a TNT has no ``patch_embed``)."""
    recorder = dict(source=record.name, element=record.elements[index]) \
        if record.is_sequence else record.name
    layout = TokenLayout(record.name)
    layout.bind(model)
    square = square_layout(record.shapes[index][1])
    if layout.owner is not None or square is None:
        return recorder
    grid, extra = square
    recorder = dict(source=recorder) if isinstance(recorder, str) else recorder
    return dict(recorder, grid=grid, extra_tokens=extra)


def _elements(record: ModuleRecord) -> List[Level]:
    """A level per (N, C, H, W) map of a module's output: an element of a tuple, or the output."""
    whole = record.name if all(len(shape) == 4 for shape in record.shapes) else None
    return [Level(dict(source=record.name, element=i) if record.is_sequence else record.name,
                  shape, 'pre' if signed else 'post', whole_output=whole)
            for i, shape, signed in zip(record.elements, record.shapes, record.signed)
            if len(shape) == 4]


def _pre_activation(stage: ModuleRecord, records: List[ModuleRecord]) -> Optional[Recorder]:
    """The input of the last activation a stage runs, when the stage ends in one: its output
    before that activation (the paper's teacher features)."""
    inside = [r for r in records if r.name.startswith(stage.name + '.') and r.is_activation]
    if stage.activation != 'post' or not inside:
        return None
    last = max(inside, key=lambda r: r.order)
    return dict(source=last.name, io='input', call=-1)
