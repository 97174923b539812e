"""What a recorder can target in a model: every module a training step runs, with its outputs.

Writing a ReviewKD config for a new pair means naming, in each network, the modules whose
outputs are distilled. :func:`explore` runs one training step of a task model (mmpretrain, mmdet
or mmseg) on a synthetic batch, as rkd's build-time probe does, and records each module's calls
and outputs; :func:`natural_levels` picks the multi-level features the paper distils (stage
outputs, FPN levels, the pooled embedding), and :func:`recorder_lines` writes them as the
``student_recorders`` / ``teacher_recorders`` of a config.
"""
import contextlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from rkd.models.algorithms.single_teacher_distill import preserved_random_state, training_mode
from rkd.models.algorithms.synthetic_batch import synthetic_batch, task_of

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.LeakyReLU, nn.Sigmoid)
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

    @property
    def activation(self) -> str:
        """``'post'``: an activation's output, or non-negative everywhere; else ``'pre'``."""
        if self.is_activation:
            return 'post'
        return 'pre' if any(self.signed) else 'post'


def _tensors(output: Any) -> List[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [item for item in output if isinstance(item, torch.Tensor)]
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
            tensors = _tensors(output)
            entry.calls += 1
            entry.shapes = [tuple(t.shape) for t in tensors]
            entry.signed = [bool((t < 0).any()) if t.is_floating_point() else False
                            for t in tensors]
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


def explore(model: nn.Module, input_size: Sequence[int] = (64, 64), channels: int = 3,
            batch_size: int = 2) -> List[ModuleRecord]:
    """The modules ``model`` runs in one training step (``model.loss`` on a synthetic batch of
    its task, no gradients, state untouched), in the order they first run."""
    inputs, samples = synthetic_batch(model, batch_size, input_size, channels)
    with torch.no_grad(), preserved_random_state(), training_mode(model), \
            _recording(model) as records:
        model.loss(inputs, samples)
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


def natural_levels(model: nn.Module, records: List[ModuleRecord]) -> List[Level]:
    """The levels ReviewKD distils, shallow -> deep: a detector's FPN levels (its neck's
    outputs); else the backbone's stage outputs (each element of a multi-scale output, or its
    non-stem child stages), plus a classifier's pooled embedding."""
    by_name = {r.name: r for r in records}
    levels: List[Level] = []
    if task_of(model) == 'mmdet' and 'neck' in by_name:
        levels += _elements(by_name['neck'])
        return levels
    backbone = by_name.get('backbone')
    stages = [r for r in records if r.name.count('.') == 1 and r.name.startswith('backbone.')
              and not r.is_leaf and len(r.shapes) == 1 and len(r.shapes[0]) == 4
              and r.name.split('.')[1] not in STEM_NAMES]
    if backbone is not None and sum(len(s) == 4 for s in backbone.shapes) >= 2:
        levels += _elements(backbone)
        for level in levels:  # the stage that made each element, by shape, in order
            stage = next((r for r in stages if r.shapes[0] == level.shape), None)
            if stage is not None:
                stages = stages[stages.index(stage) + 1:]
                level.pre_activation = _pre_activation(stage, records)
    elif stages:
        levels += [Level(r.name, r.shapes[0], r.activation, _pre_activation(r, records))
                   for r in stages]
    else:
        levels += _token_levels(by_name, records)
    neck, head_input = by_name.get('neck'), by_name.get('head.layers.head')
    if task_of(model) == 'mmpretrain' and neck is not None and neck.shapes \
            and len(neck.shapes[-1]) == 2:
        recorder = 'neck' if len(neck.shapes) == 1 else dict(source='neck', element=-1)
        levels.append(Level(recorder, neck.shapes[-1], neck.activation))
    elif task_of(model) == 'mmpretrain' and levels and head_input is not None:
        # a ViT classifier has no neck: its head reads the class token
        last = levels[-1].shape
        channels = last[-1] if len(last) == 3 else last[1]  # (N, L, C) tokens or a map
        levels.append(Level(dict(source=head_input.name, io='input'), (last[0], channels),
                            'pre'))
    return levels


def _token_levels(by_name: Dict[str, ModuleRecord], records: List[ModuleRecord],
                  count: int = 4) -> List[Level]:
    """A transformer backbone's (N, L, C) blocks, ``count`` of them evenly spaced, the last
    through the final norm when it ran; recorders turn their tokens into maps."""
    blocks = [r for r in records if r.name.count('.') == 2 and r.shapes
              and r.name.startswith(('backbone.layers.', 'backbone.stages.'))
              and len(r.shapes[0]) == 3]
    if not blocks:
        return []
    step = len(blocks) / min(count, len(blocks))
    chosen = [blocks[round(step * (i + 1)) - 1] for i in range(min(count, len(blocks)))]
    final_norm = by_name.get('backbone.ln1')
    if final_norm is not None and final_norm.shapes and len(final_norm.shapes[0]) == 3:
        chosen[-1] = final_norm
    return [Level(r.name, r.shapes[0], r.activation) for r in chosen]


def _elements(record: ModuleRecord) -> List[Level]:
    return [Level(dict(source=record.name, element=i), shape, 'pre' if signed else 'post')
            for i, (shape, signed) in enumerate(zip(record.shapes, record.signed))
            if len(shape) == 4]


def _pre_activation(stage: ModuleRecord, records: List[ModuleRecord]) -> Optional[Recorder]:
    """The input of the last activation a stage runs, when the stage ends in one: its output
    before that activation (the paper's teacher features)."""
    inside = [r for r in records if r.name.startswith(stage.name + '.') and r.is_activation]
    if stage.activation != 'post' or not inside:
        return None
    last = max(inside, key=lambda r: r.order)
    return dict(source=last.name, io='input', call=-1)


def paired_levels(student: List[Level], teacher: List[Level]) -> Tuple[List[Level], List[Level]]:
    """The deepest levels both networks have, as many in each (ReviewKD pairs them 1:1)."""
    count = min(len(student), len(teacher))
    return student[len(student) - count:], teacher[len(teacher) - count:]


def recorder_lines(name: str, levels: List[Level], pre_activation: bool = False) -> List[str]:
    """``name=[...]`` for a config, one recorder a line, with its shape as a comment."""
    lines = [f'{name}=[']
    for level in levels:
        recorder, activation = level.recorder, level.activation
        if pre_activation and level.pre_activation:
            recorder, activation = level.pre_activation, 'pre'
        lines.append(f'    {_as_config(recorder)},  # {level.shape}, {activation}-activation')
    return lines + ['],']


def _as_config(recorder: Recorder) -> str:
    if isinstance(recorder, str):
        return repr(recorder)
    return 'dict(' + ', '.join(f'{key}={value!r}' for key, value in recorder.items()) + ')'


def format_table(records: List[ModuleRecord], levels: List[Level]) -> List[str]:
    """One line a module: name, type, calls, output shapes, pre/post-activation, and a mark on
    the modules of :func:`natural_levels`."""
    marked = {level.recorder if isinstance(level.recorder, str) else level.recorder['source']
              for level in levels}
    width = max(len(r.name) for r in records)
    lines = [f'  {"module".ljust(width)}  {"type":<24} calls  activation  output']
    for r in records:
        shapes = ', '.join(str(s) for s in r.shapes) or '-'
        mark = '*' if r.name in marked else ' '
        lines.append(f'{mark} {r.name.ljust(width)}  {r.type:<24} {r.calls:>5}  '
                     f'{r.activation + "-act":<10}  {shapes}')
    return lines
