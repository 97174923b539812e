"""Which stock OpenMMLab model families distil with rkd, tried as a new user would.

For each model folder of the installed mmpretrain, mmdet and mmseg configs, :func:`choose_pair`
takes the folder's smallest model as the student and the next larger one as the teacher (by
parameter count, among the first few distinct models of the folder; the student itself when
the folder has one model), and :func:`check_pair` runs what a user runs, on synthetic data: the
distillation built with ``'auto'`` recorders, two training steps, the run's checkpoint loaded
strictly and predicted with (as ``tools/test.py`` does), the student exported and loaded
strictly into the plain student model. Where that fails, the student and the teacher are tried
alone: a family either of which cannot train alone on this machine is "not applicable", with
the reason. ``tools/analysis_tools/model_coverage.py`` runs it and writes
``docs/model_coverage.md``.
"""
import contextlib
import gc
import math
import signal
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.runner import save_checkpoint

from rkd.checkpoint import export_student, load_student, load_weights
from rkd.checkpoint.weights import without_aliases
from rkd.models.algorithms.model_builder import (build_task_model, drop_pretrained_init,
                                                 initialise_for_probe)
from rkd.models.algorithms.probe_state import first_step_runtime_info, training_mode
from rkd.models.algorithms.synthetic_batch import input_channels, synthetic_batch, task_of
from rkd.registry import MODELS

TASKS = ('mmpretrain', 'mmdet', 'mmseg')
# Input sizes tried, smallest first, until the student alone trains on one.
SIZES = (64, 128, 224, 512)
# Distinct models of a folder built to choose its pair.
CANDIDATES = 6
# The SGD steps that train a pair, and its student alone: gradients clipped as mmdet's
# configs clip them (a random teacher's features can be huge, and a random CornerNet's
# gradients took it to NaN in one step).
LEARNING_RATE = 1e-4
CLIP_GRAD = dict(max_norm=35, norm_type=2)


@dataclass
class Outcome:
    """What one family gave: ``pass``, ``fail`` at ``stage``, or ``n/a`` with the reason."""

    task: str
    family: str
    result: str = 'pass'
    stage: str = ''
    message: str = ''
    student: str = ''
    teacher: str = ''
    size: int = 0
    seconds: float = 0.0
    losses: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


class StageFailure(Exception):
    """A stage of :func:`check_pair` failed; ``message`` is what the user would see."""

    def __init__(self, stage: str, error: BaseException) -> None:
        where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
        at = f' (at {Path(where.filename).name}:{where.lineno})' if where else ''
        super().__init__(f'{type(error).__name__}: {_first_line(error)}{at}')
        self.stage = stage


def config_root(task: str) -> Path:
    """The folder of the configs installed with ``task``'s package (``.mim/configs``)."""
    import importlib
    return Path(importlib.import_module(task).__file__).parent / '.mim' / 'configs'


def families(task: str) -> List[str]:
    """The model folders of ``task``'s installed configs, by name (``_base_`` left out)."""
    return sorted(p.name for p in config_root(task).iterdir()
                  if p.is_dir() and not p.name.startswith('_') and any(p.glob('*.py')))


def choose_pair(task: str, family: str) -> Tuple[str, str]:
    """(student config, teacher config) of a family: its smallest task model (classifier,
    detector, segmentor; configs in sub-folders included) and the next larger one: a larger
    sibling, as a user distils, without the giant models that take minutes a step on a CPU."""
    sized = []
    seen = set()
    for path in sorted((config_root(task) / family).rglob('*.py')):
        try:
            cfg = Config.fromfile(str(path))
        except Exception:  # a config of a package that is not installed, a missing base
            continue
        if 'model' not in cfg or repr(cfg.model) in seen:
            continue
        seen.add(repr(cfg.model))
        try:
            size = _parameter_count(str(path))
        except Exception:  # not a classifier, detector or segmentor; a missing package
            continue
        sized.append((size, str(path)))
        if len(sized) == CANDIDATES:
            break
    if not sized:
        raise LookupError(f'no config of {task}/{family} builds a classifier, detector or '
                          'segmentor (offline, with the packages installed)')
    sized.sort()
    larger = [path for size, path in sized if size > sized[0][0]]
    return sized[0][1], (larger or [sized[0][1]])[0]


def _parameter_count(config: str) -> int:
    """The parameters of the task model of ``config``, built without memory on the ``meta``
    device where its constructor allows (giant ViTs take gigabytes), else on the CPU."""
    try:
        with torch.device('meta'):
            model = build_task_model(config)
    except Exception:
        model = build_task_model(config)
    task_of(model)  # a classifier, detector or segmentor: not a self-supervised model
    return sum(p.numel() for p in model.parameters())


def check_pair(task: str, family: str, student: str, teacher: str,
               sizes: Sequence[int] = SIZES, steps: int = 2,
               model_options: Optional[dict] = None) -> Outcome:
    """Run a family's pair through the stages a user runs (see the module docstring), at the
    first size where it passes; where it fails, the student alone and the teacher alone say
    whose failure it is: a network that fails alone makes the size "n/a", the next one is tried.
    (Checking the networks alone only after a failure spares a passing family two steps.)"""
    outcome = Outcome(task, family, student=_short(task, student), teacher=_short(task, teacher))
    own_sizes = _own_sizes(student)
    alone_failures: List[Tuple[int, StageFailure]] = []
    for size in sorted({*sizes, *own_sizes}):
        try:
            outcome.losses = _distill(student, teacher, size, steps, model_options)
            outcome.size = size
            return outcome
        except StageFailure as failure:
            try:
                _both_train_alone_at(student, teacher, size, steps)
            except StageFailure as alone:
                alone_failures.append((size, alone))
                continue
            outcome.result, outcome.stage, outcome.message = 'fail', failure.stage, str(failure)
            outcome.size = size
            return outcome
    # the reason: the teacher's failure where the student worked, else the student's at a size
    # its config names, else at the largest size (smaller ones may fail for being small)
    outcome.size, failure = next(
        (pair for pair in alone_failures if pair[1].stage == 'teacher alone'),
        next((pair for pair in reversed(alone_failures) if pair[0] in own_sizes),
             alone_failures[-1]))
    outcome.result, outcome.stage, outcome.message = 'n/a', failure.stage, str(failure)
    return outcome


def run_family(task: str, family: str, timeout: int = 600, sizes: Sequence[int] = SIZES,
               model_options: Optional[dict] = None) -> Outcome:
    """:func:`choose_pair` then :func:`check_pair`, within ``timeout`` seconds; the
    distillation model takes ``model_options`` (e.g. ``channels_last=True``)."""
    start = time.perf_counter()
    outcome = Outcome(task, family)
    try:
        with _time_limit(timeout):
            try:
                student, teacher = choose_pair(task, family)
            except Exception as error:
                outcome.result, outcome.stage = 'n/a', 'choose'
                outcome.message = str(StageFailure('choose', error))
            else:
                outcome = Outcome(task, family, student=_short(task, student),
                                  teacher=_short(task, teacher))  # named if it times out
                outcome = check_pair(task, family, student, teacher, sizes,
                                     model_options=model_options)
    except TimeoutError:
        outcome.result, outcome.stage = 'fail', outcome.stage or 'timeout'
        outcome.message = f'longer than {timeout} s on this machine'
    outcome.seconds = round(time.perf_counter() - start, 1)
    gc.collect()
    return outcome


def _both_train_alone_at(student: str, teacher: str, size: int, steps: int) -> None:
    """Whether the student alone (``steps`` steps, as the distillation trains it) and the
    teacher alone (one) train and predict at ``size``: the failure of the first that does not,
    as a :class:`StageFailure`."""
    for stage, config, its_steps in (('student alone', student, steps),
                                     ('teacher alone', teacher, 1)):
        with _stage(stage):
            _train_alone(config, size, its_steps, reload=stage == 'student alone')


def _own_sizes(config: str) -> List[int]:
    """The square input sizes ``config`` names: its backbone's ``img_size`` and the size its test
    pipeline ends with (the last it resizes or crops to: a ResizeEdge to 256 before a 224 crop
    gives 224). Position tables, rotary embeddings and a LeNet's classifier fit those only."""
    cfg = Config.fromfile(config)
    dataset = cfg.get('val_dataloader', {}).get('dataset', {})
    pipeline = cfg.get('test_pipeline') or dataset.get('pipeline') or []
    resized = [step[key] for step in pipeline if isinstance(step, dict)
               for key in ('scale', 'crop_size') if step.get(key) is not None]
    named = [cfg.model.get('backbone', {}).get('img_size'), *resized[-1:]]
    # an int, or a square (w, h): SSD300's (300, 300)
    return sorted({size if isinstance(size, int) else size[0] for size in named
                   if isinstance(size, int) or isinstance(size, (tuple, list))
                   and len(size) == 2 and size[0] == size[1] and isinstance(size[0], int)})


def _train_alone(config: str, size: int, steps: int, reload: bool) -> None:
    """``steps`` training steps with the distillation's optimizer and a prediction of the
    model of ``config``, as the model's own training and test loops would run them; with
    ``reload``, its state dict loaded strictly into a new model, as its own checkpoint would be
    (a student's is, after distillation)."""
    model = build_task_model(config)
    initialise_for_probe(model, runner_inits_again=False)  # as the runner would, offline
    channels = input_channels(model)
    optimizer = OptimWrapper(torch.optim.SGD(model.parameters(), lr=LEARNING_RATE),
                             clip_grad=CLIP_GRAD)
    with training_mode(model), first_step_runtime_info():  # as the runner's hooks set it
        for step in range(steps):
            inputs, samples = synthetic_batch(model, 2, (size, size), channels, seed=step)
            loss, _ = model.parse_losses(model.loss(inputs, samples))
            if not math.isfinite(loss.item()):  # CornerNet's after one step at 64 px
                raise FloatingPointError(f'a non-finite loss alone at step {step + 1}: '
                                         f'{loss.item()}')
            optimizer.update_params(loss)
    inputs, samples = synthetic_batch(model, 2, (size, size), channels, seed=steps)
    model.eval()
    with torch.no_grad():
        model(inputs, samples, mode='predict')
    if not reload:
        return
    try:
        reloaded = build_task_model(config)
        reloaded.load_state_dict(without_aliases(reloaded, model.state_dict()))
    except RuntimeError as error:  # buffers resized by the step (rotary embeddings)
        raise RuntimeError(f'its own state dict after a step at {size} px does not load '
                           f'into a new model: {_first_line(error)}') from error


def _distill(student: str, teacher: str, size: int, steps: int,
             model_options: Optional[dict] = None) -> dict:
    with _stage('build'):
        channels = input_channels(build_task_model(student))
        algorithm = MODELS.build(dict(
            type='rkd.SingleTeacherDistill', student=student,
            teacher=dict(config=teacher, checkpoint=None),
            distiller=dict(type='rkd.ReviewKDDistiller', student_recorders='auto',
                           teacher_recorders='auto',
                           connector=dict(type='rkd.ABFConnector', mid_channels=64)),
            probe_input_shape=(channels, size, size), **(model_options or {})))
        drop_pretrained_init(algorithm.student)  # random weights: nothing to download
        algorithm.init_weights()
        optimizer = OptimWrapper(torch.optim.SGD(
            [p for p in algorithm.parameters() if p.requires_grad], lr=LEARNING_RATE),
            clip_grad=CLIP_GRAD)
    with _stage('train'), first_step_runtime_info():  # as the runner's hooks set it
        algorithm.train()
        for step in range(steps):
            # a batch a step, as a data loader gives: heads convert their samples in place
            inputs, samples = synthetic_batch(algorithm.student, 2, (size, size), channels,
                                              seed=step)
            loss, log_vars = algorithm.parse_losses(algorithm.loss(inputs, samples))
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f'non-finite loss: {log_vars}')
            optimizer.update_params(loss)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint, exported = f'{folder}/iter_{steps}.pth', f'{folder}/student.pth'
        save_checkpoint(dict(state_dict=algorithm.state_dict(), meta=dict(iter=steps)),
                        checkpoint)
        with _stage('test'):
            load_weights(algorithm, checkpoint, 'checkpoint to test')
            algorithm.eval()
            inputs, samples = synthetic_batch(algorithm.student, 2, (size, size), channels,
                                              seed=steps)
            with torch.no_grad():
                algorithm(inputs, samples, mode='predict')
        with _stage('export'):
            export_student(checkpoint, exported)
        with _stage('load'):
            load_student(build_task_model(student), exported)
    return {key: round(float(torch.as_tensor(value).detach()), 4) for key, value in log_vars.items()
            if key.startswith('loss')}


@contextlib.contextmanager
def _stage(name: str) -> Iterator[None]:
    try:
        yield
    except TimeoutError:
        raise
    except Exception as error:
        raise StageFailure(name, error) from error


@contextlib.contextmanager
def _time_limit(seconds: int, again_after: float = 5.0) -> Iterator[None]:
    """Raise TimeoutError in the body after ``seconds``, and again every ``again_after`` seconds
    until it ends: code that catches every exception (a build probe turns any error into its
    own) would otherwise swallow the only one (SIGALRM: the main thread, POSIX)."""
    def expire(*_):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, again_after)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    message = text[0] if text else ''
    return message if len(message) <= 300 else message[:297] + '...'


def _short(task: str, path: str) -> str:
    return f'{task}::{Path(path).parent.name}/{Path(path).name}'


def markdown(outcomes: List[Outcome], command: str, machine: str) -> str:
    """``docs/model_coverage.md``: a table a task, a row a family (``not run`` for a family
    the sweep has not reached yet)."""
    counts = {r: sum(o.result == r for o in outcomes) for r in ('pass', 'fail', 'n/a')}
    tried = sum(counts.values())
    lines = [
        '# Model coverage: stock OpenMMLab families under rkd',
        '',
        'Generated by `' + command + '` (do not edit by hand). For every model folder of the '
        'installed mmpretrain, mmdet and mmseg configs the smallest model (by parameter count, '
        f'among the first {CANDIDATES} distinct models of the folder) is the student and the '
        'next larger one the teacher (random weights), on synthetic data of the first size in '
        f'{list(SIZES)} (and the sizes the student\'s config names) at which it passes. Each '
        "row runs: the distillation built with `'auto'` recorders, 2 training steps, the run's "
        'checkpoint loaded strictly and predicted with (as `tools/test.py` does), the student '
        'exported and loaded strictly into the plain student model. Where that fails, the '
        'student and the teacher run alone at that size: "n/a" means one of them fails alone '
        '(a step, a prediction, or the student\'s own state dict reloaded) at every size, the '
        'reason shown at the size in the row (one the student\'s config names, else the '
        'largest), so there is nothing to distil; "fail" means both work alone and the '
        'distillation does not.',
        '',
        f'Measured on {machine}: {counts["pass"]} pass, {counts["fail"]} fail, '
        f'{counts["n/a"]} n/a of {tried} families tried'
        + (f'; {len(outcomes) - tried} not run yet (the sweep resumes where it stopped).'
           if tried < len(outcomes) else '.'),
    ]
    for task in TASKS:
        rows = [o for o in outcomes if o.task == task]
        if not rows:
            continue
        lines += ['', f'## {task}', '', '| family | result | stage: message | student -> teacher '
                  '| size | s |', '| :-- | :-- | :-- | :-- | --: | --: |']
        for o in rows:
            detail = f'{o.stage}: {o.message}' if o.stage else ''
            pair = f'`{o.student.split("::")[-1]}` -> `{o.teacher.split("::")[-1]}`' \
                if o.student else ''
            lines.append(f'| {o.family} | {o.result} | {_cell(detail)} | {pair} | '
                         f'{o.size or ""} | {o.seconds:g} |')
    return '\n'.join(lines) + '\n'


def _cell(text: str) -> str:
    return text.replace('|', '\\|').replace('\n', ' ')
