"""``'auto'`` recorders: each network's natural levels, paired by equal stride.

A distiller config may say ``student_recorders='auto'`` and/or ``teacher_recorders='auto'``.
Each ``'auto'`` side starts from its network's natural levels (``natural_levels.py``), a listed
side from its list; one step at the probe's input size, as the distillation runs each network
(the student's training step, the teacher's forward in eval mode), gives every level's map, and a
student level is paired with the teacher level of the same stride (input size over map size,
within a factor of sqrt(2), the nearest first, deeper levels first among equals, never crossing
an earlier pair). A pooled embedding pairs only with a pooled embedding. Unpaired levels of an
``'auto'`` side are dropped and named; an unpaired listed level is an error, as is a pair of
networks without one stride in common.
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

from torch import nn

from ..recorders import RecorderGroup
from .natural_levels import Recorder, explore, natural_levels
from .probe_state import probing, step
from .synthetic_batch import synthetic_batch

AUTO = 'auto'
# Levels pair when their strides differ by at most this factor.
STRIDE_TOLERANCE = math.sqrt(2)

Recorders = Union[str, Sequence[Recorder]]


@dataclass
class ProbedLevel:
    """One level as a step records it: which recorder reads it, and the map it gave."""

    recorder: Recorder  # as listed, or as natural_levels found it
    element: Optional[int]  # which map of the recorder's output (None: its only one)
    maps: int  # how many maps the recorder's output has
    channels: int
    size: Tuple[int, int]  # (H, W) of the map
    stride: Optional[float]  # input side over map side; None for a pooled (N, C) embedding

    @property
    def as_recorder(self) -> Recorder:
        """The recorder that reads this map alone."""
        if self.element is None:
            return self.recorder
        return dict(_as_dict(self.recorder), element=self.element)

    def describe(self) -> str:
        return f'{as_config(self.as_recorder)} ({_where(self)})'


@dataclass
class Pairing:
    """The paired levels of both networks, shallow -> deep, and the levels left out."""

    student: List[ProbedLevel]
    teacher: List[ProbedLevel]
    dropped_student: List[ProbedLevel]
    dropped_teacher: List[ProbedLevel]
    input_size: Tuple[int, int]

    @property
    def student_recorders(self) -> List[Recorder]:
        return [recorder for recorder, _ in grouped(self.student)]

    @property
    def teacher_recorders(self) -> List[Recorder]:
        return [recorder for recorder, _ in grouped(self.teacher)]

    def table(self) -> List[str]:
        """Student and teacher side by side, a row a pair: recorder, channels, stride, map."""
        rows = [('student', 'ch', 'stride', 'map', 'teacher', 'ch', 'stride', 'map')]
        for s, t in zip(self.student, self.teacher):
            rows.append((*_cells(s), *_cells(t)))
        widths = [max(len(row[i]) for row in rows) for i in range(8)]
        lines = ['  ' + '  '.join(cell.ljust(w) for cell, w in zip(row[:4], widths[:4])) + ' | '
                 + '  '.join(cell.ljust(w) for cell, w in zip(row[4:], widths[4:]))
                 for row in rows]
        for network, dropped in (('student', self.dropped_student),
                                 ('teacher', self.dropped_teacher)):
            if dropped:
                lines.append(f'  dropped from the {network} (no level of its stride on the other '
                             f'side): ' + ', '.join(level.describe() for level in dropped))
        return lines

    def config_lines(self) -> List[str]:
        """The pairing as a distiller config writes it (to freeze it), a recorder a line."""
        lines = []
        for name, levels in (('student_recorders', self.student),
                             ('teacher_recorders', self.teacher)):
            lines.append(f'{name}=[')
            for recorder, group in grouped(levels):
                if len(group) == 1:
                    where = _where(group[0])
                else:
                    where = f'{len(group)} maps, strides ' + ', '.join(map(_stride, group))
                lines.append(f'    {as_config(recorder)},  # {where}')
            lines.append('],')
        return lines


def pair_levels(student: nn.Module, teacher: nn.Module, input_shape: Sequence[int],
                student_recorders: Recorders = AUTO, teacher_recorders: Recorders = AUTO,
                teacher_pre_activation: bool = False) -> Pairing:
    """Resolve ``'auto'`` recorders for ``student`` and ``teacher`` at ``input_shape`` (C, H, W),
    and pair the levels of both sides by stride (see the module's docstring)."""
    channels, *size = (int(d) for d in input_shape)
    sides = []
    for network, model, recorders in (('the student', student, student_recorders),
                                      ('the teacher', teacher, teacher_recorders)):
        auto = isinstance(recorders, str) and recorders == AUTO
        training = network == 'the student'  # the teacher runs in eval mode
        if auto:
            recorders = _natural_recorders(model, network, size, channels,
                                           teacher_pre_activation and not training, training)
        sides.append((auto, probe_levels(model, network, recorders, size, channels, training)))
    (student_auto, student_levels), (teacher_auto, teacher_levels) = sides
    pairs = _match(student_levels, teacher_levels)
    if not pairs:
        raise ValueError(
            'No level of the student has the stride of a teacher level at '
            f'{size[0]}x{size[1]} input: student {_strides(student_levels)}, teacher '
            f'{_strides(teacher_levels)}. List the recorders of both networks (their strides '
            'need not match then: ABF resizes to the teacher\'s maps).')
    paired_student = [student_levels[i] for i, _ in pairs]
    paired_teacher = [teacher_levels[j] for _, j in pairs]
    # by index: a recorder listed twice gives two equal levels, only one of them paired
    dropped_student = [level for i, level in enumerate(student_levels)
                       if i not in {i for i, _ in pairs}]
    dropped_teacher = [level for j, level in enumerate(teacher_levels)
                       if j not in {j for _, j in pairs}]
    for network, auto, dropped, other in (
            ('student', student_auto, dropped_student, teacher_levels),
            ('teacher', teacher_auto, dropped_teacher, student_levels)):
        if dropped and not auto:
            raise ValueError(
                f'The {network} recorders list {[level.describe() for level in dropped]}, which '
                f'no level of the other network matches in stride (it has '
                f'{_strides(other)}). Remove them, or set that network\'s recorders to \'auto\' '
                'only when the strides can match.')
    return Pairing(paired_student, paired_teacher, dropped_student, dropped_teacher, tuple(size))


def _natural_recorders(model: nn.Module, network: str, size: Sequence[int], channels: int,
                       pre_activation: bool, training: bool) -> List[Recorder]:
    levels = natural_levels(model, explore(model, size, channels, training=training))
    if not levels:
        raise ValueError(
            f'\'auto\' found no feature level in {network} ({type(model).__name__}): no neck '
            'outputs, no backbone stages of (N, C, H, W) maps and no transformer blocks. List '
            'its recorders; tools/analysis_tools/list_features.py prints every module it runs.')
    recorders: List[Recorder] = []
    for level in levels:  # a neck's five FPN levels are one recorder of its whole output
        if pre_activation and level.pre_activation:
            recorders.append(level.pre_activation)
        elif level.whole_output is None:
            recorders.append(level.recorder)
        elif level.whole_output not in recorders:
            recorders.append(level.whole_output)
    return recorders


def probe_levels(model: nn.Module, network: str, recorders: Sequence[Recorder],
                 size: Sequence[int], channels: int, training: bool = True) -> List[ProbedLevel]:
    """The maps ``recorders`` read in one step of ``model`` on a synthetic batch (no gradients,
    state untouched): a training step, or unless ``training`` what a distillation runs of its
    teacher (``probe_state.step``); a recorder of a tuple output gives a level per element."""
    group = RecorderGroup(recorders, network=network).bind(model)
    inputs, samples = synthetic_batch(model, 2, size, channels)
    with probing(model, training), group.recording():
        step(model, training, group.sources)(inputs, samples)
        per_recorder = group.features_by_recorder()
        ranks_by_recorder = [recorder.recorded_ranks() for recorder in group.recorders]
    levels = []
    for recorder, ranks, maps in zip(recorders, ranks_by_recorder, per_recorder):
        for index, (rank, feature) in enumerate(zip(ranks, maps)):
            stride = None if rank == 2 else math.sqrt(
                size[0] / feature.shape[-2] * size[1] / feature.shape[-1])
            levels.append(ProbedLevel(recorder, index if len(maps) > 1 else None, len(maps),
                                      int(feature.shape[1]), tuple(feature.shape[-2:]), stride))
    return levels


def _match(student: List[ProbedLevel], teacher: List[ProbedLevel]) -> List[Tuple[int, int]]:
    """Index pairs (student, teacher) of equal stride, in order (see the module's docstring)."""
    candidates = []
    for i, s in enumerate(student):
        for j, t in enumerate(teacher):
            if (s.stride is None) != (t.stride is None):
                continue
            gap = 0.0 if s.stride is None else abs(math.log(s.stride / t.stride))
            if gap <= math.log(STRIDE_TOLERANCE) + 1e-9:
                candidates.append((gap, -(i + j), i, j))
    pairs: List[Tuple[int, int]] = []
    for _, _, i, j in sorted(candidates):
        if all(i != a and j != b and (i < a) == (j < b) for a, b in pairs):
            pairs.append((i, j))
    return sorted(pairs)


def grouped(levels: List[ProbedLevel]) -> List[Tuple[Recorder, List[ProbedLevel]]]:
    """The recorders that read ``levels``, each with its levels: one recorder for a run of levels
    that is every map of its output in order (an FPN's five levels are ``'neck'``), else one
    ``element=`` recorder a level."""
    groups: List[Tuple[Recorder, List[ProbedLevel]]] = []
    i = 0
    while i < len(levels):
        level = levels[i]
        run = levels[i:i + level.maps]
        if level.maps > 1 and [lv.element for lv in run] == list(range(level.maps)) and all(
                lv.recorder == level.recorder for lv in run):
            groups.append((level.recorder, run))
        else:
            groups.append((level.as_recorder, [level]))
        i += len(groups[-1][1])
    return groups


def as_config(recorder: Recorder) -> str:
    """A recorder as a config writes it: ``'backbone.layer1'``, ``dict(source=..., ...)``."""
    if isinstance(recorder, str):
        return repr(recorder)
    return 'dict(' + ', '.join(f'{key}={value!r}' for key, value in recorder.items()) + ')'


def _as_dict(recorder: Recorder) -> dict:
    return dict(source=recorder) if isinstance(recorder, str) else dict(recorder)


def _stride(level: ProbedLevel) -> str:
    return 'pooled' if level.stride is None else f'{level.stride:g}'


def _where(level: ProbedLevel) -> str:
    """``'24 ch, stride 4'``, ``'1280 ch, pooled'``."""
    where = 'pooled' if level.stride is None else f'stride {_stride(level)}'
    return f'{level.channels} ch, {where}'


def _cells(level: ProbedLevel) -> Tuple[str, str, str, str]:
    return (as_config(level.as_recorder), str(level.channels), _stride(level),
            f'{level.size[0]}x{level.size[1]}')


def _strides(levels: List[ProbedLevel]) -> List[str]:
    return [_stride(level) for level in levels]
