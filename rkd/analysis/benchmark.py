"""Time and memory of a distillation step against its parts, on synthetic batches.

The student's train step alone, the teacher's forward alone (exactly what the distillation step
runs of it) and the whole distillation step, each after warm-up: the median and spread of N steps,
and the peak memory of one.

Peak memory is what torch's allocator holds: the CUDA allocator's own peak, or on CPU the
peak of the allocations torch's profiler records. The process's resident set would also count
the C heap's reuse and depends on how the kernel keeps its high-water mark, which differs
between machines.
"""
import copy
import json
import os
import statistics
import subprocess
import time
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Dict, Hashable, Iterable, Iterator, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch.profiler import ProfilerActivity, profile

from rkd.apis.builder import build_distillation
from rkd.models.algorithms.memory_format import channels_last_batch
from rkd.models.algorithms.synthetic_batch import synthetic_batch

# The measured steps of distillation_parts.
PARTS = ('student', 'teacher', 'distill')
# Pipeline keys that carry the training crop or resize size as (w, h), in mmcv's, mmpretrain's
# and mmdet's transforms; ``scales`` (mmdet's RandomChoiceResize) lists several.
SIZE_KEYS = ('crop_size', 'scale', 'size', 'scales')
# The options a teacher variant joins with '+' ('default': the teacher as configured), as
# settings of ``model.teacher``.
TEACHER_OPTIONS = {'unfolded': dict(fold_bn=False), 'bfloat16': dict(dtype='bfloat16'),
                   'float16': dict(dtype='float16'), 'channels_last': dict(channels_last=True)}
DEFAULT_TEACHER = 'default'


def teacher_variant(name: str) -> dict:
    """The ``model.teacher`` settings of the variant ``name`` (e.g. ``'unfolded+bfloat16'``)."""
    options = [] if name == DEFAULT_TEACHER else name.split('+')
    unknown = [option for option in options if option not in TEACHER_OPTIONS]
    if unknown:
        raise ValueError(f'Unknown teacher option(s) {unknown} in {name!r}: join any of '
                         f'{sorted(TEACHER_OPTIONS)} with \'+\', or use {DEFAULT_TEACHER!r}.')
    settings = {}
    for option in options:
        settings.update(TEACHER_OPTIONS[option])
    return settings


def train_input_size(cfg: Config) -> List[int]:
    """The (H, W) of the training batches: the fixed size the student's preprocessor pads to
    (mmseg's crop size), else the last crop or resize size of the training pipeline (the
    largest of a multi-scale choice), else the probe's size."""
    student = cfg.model.get('student')
    preprocessor = (student.get('data_preprocessor') if isinstance(student, dict) else None) \
        or cfg.get('data_preprocessor') or {}
    if preprocessor.get('size'):
        return list(preprocessor['size'])  # mmseg's SegDataPreProcessor: (h, w)
    size = None
    for transform in cfg.get('train_dataloader', {}).get('dataset', {}).get('pipeline', []):
        for key in SIZE_KEYS:
            value = transform.get(key)
            if isinstance(value, int):
                size = [value] * 2
            elif key == 'scales' and value:
                size = list(max(value, key=lambda wh: wh[0] * wh[1]))[::-1]
            elif isinstance(value, (tuple, list)) and key != 'scales':
                size = list(value)[::-1]
    if size is None:
        size = list(cfg.model.get('probe_input_shape', (3, 224, 224)))[1:]
    return size


def build_algorithm(cfg: Config, impl: str, device: str, teacher: str = DEFAULT_TEACHER,
                    channels_last: bool = False) -> torch.nn.Module:
    """The config's distillation model with the connector and loss forms set to ``impl``, the
    teacher variant ``teacher`` (:func:`teacher_variant`) and ``model.channels_last``.

    The teacher keeps its random weights: speed and memory do not depend on them.
    """
    model_cfg = copy.deepcopy(cfg.model)  # cfg stays as it is for the next build
    model_cfg.teacher.checkpoint = None
    model_cfg.teacher.update(teacher_variant(teacher))
    model_cfg.distiller.connector.impl = impl
    model_cfg.distiller.loss.impl = impl
    model_cfg.channels_last = channels_last
    return build_distillation(cfg, model_cfg).to(device).train()


class PeakMemory:
    """Peak memory torch allocates inside a block, above what it held at the start."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.peak_mib = 0.0

    @contextmanager
    def measure(self) -> Iterator['PeakMemory']:
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            start = torch.cuda.memory_allocated()
            yield self
            torch.cuda.synchronize()
            self.peak_mib = (torch.cuda.max_memory_allocated() - start) / 2**20
            return
        # The CUDA build's profiler logs an error on a machine without GPUs unless told not to.
        os.environ.setdefault('KINETO_LOG_LEVEL', '5')
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
            yield self
        self.peak_mib = _peak_of_allocations(profiler) / 2**20


def _peak_of_allocations(profiler: profile) -> int:
    """Bytes held at the peak of the profiled block, from its allocation and free records in
    time order. torch offers no CPU allocator statistics, and the profiler's per-operator
    summaries net out what an operator frees before it returns, so the raw records are read.
    The profiler does not record the freeing of a block allocated before it started, so a
    measured step frees the gradients it makes at its end, not at the next step's start."""
    records = sorted((event for event in profiler.profiler.kineto_results.events()
                      if event.name() == '[memory]'), key=lambda event: event.start_ns())
    held = peak = 0
    for record in records:
        held += record.nbytes()
        peak = max(peak, held)
    return peak


def summarize(times: List[float]) -> Dict[str, float]:
    """Median and spread (min-max) of step times in ms."""
    return dict(ms=statistics.median(times), min_ms=min(times), max_ms=max(times))


def _synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_interleaved(steps: Dict[Hashable, Callable[[], None]], device: str, warmup: int,
                     iters: int) -> Dict[Hashable, List[float]]:
    """Ms of each of ``iters`` calls of each step after ``warmup`` calls, calling the steps
    round-robin, so a machine whose speed drifts slows all of them alike."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    times: Dict[Hashable, List[float]] = {name: [] for name in steps}
    for _ in range(iters):
        for name, step in steps.items():
            _synchronize(device)
            start = time.perf_counter()
            step()
            _synchronize(device)
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def peak_memory_mib(step: Callable[[], None], device: str) -> float:
    """Peak memory of the second call of ``step`` above what it starts with; the first call
    makes what lasts (optimizer state, kernel caches)."""
    step()
    with PeakMemory(device).measure() as memory:
        step()
    return memory.peak_mib


def json_of_last_line(cmd: List[str]) -> Any:
    """Run ``cmd`` (a measurement in a fresh process) and parse the last line it prints.

    Raises:
        ChildProcessError: the process failed; the message ends with its error output.
    """
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        tail = '\n'.join(done.stderr.strip().splitlines()[-20:])
        raise ChildProcessError(f'The measurement process failed (exit code {done.returncode}): '
                                f'{" ".join(cmd)}\n{tail}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def _endless(loader: Iterable) -> Iterator:
    """Batches of ``loader`` epoch after epoch: a small dataset still gives N batches."""
    while True:
        yield from loader


def time_dataloader(cfg: Config, batches: int) -> Dict[str, float]:
    """Median ms per batch of the config's real training dataloader (loading, augmentation,
    collation), for comparison with the step time: the pipeline must not be the bottleneck."""
    from mmengine.runner import Runner
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        loader = Runner.build_dataloader(cfg.train_dataloader)
    times, batch_iter = [], _endless(loader)
    next(batch_iter)  # worker start-up is not per-batch work
    for _ in range(batches):
        start = time.perf_counter()
        next(batch_iter)
        times.append((time.perf_counter() - start) * 1000)
    return dict(summarize(times), batch_size=loader.batch_size, num_workers=loader.num_workers)


def distillation_parts(cfg: Config, impl: str, batch_size: int, device: str = 'cpu',
                       amp: Optional[str] = None, channels_last: bool = False,
                       input_size: Optional[Sequence[int]] = None, teacher: str = DEFAULT_TEACHER
                       ) -> Dict[str, Callable[[], None]]:
    """The three measured steps of ``cfg`` with connector and loss form ``impl`` and teacher
    variant ``teacher``: the student's
    train step alone, the teacher's forward alone (exactly what distillation runs of it) and the
    distillation train step, on one synthetic batch of the student's task (labels, boxes and
    masks, or segmentation maps) at ``input_size`` (H, W), by default the config's.

    ``amp``: None, ``'bf16'`` or ``'fp16'`` autocast (the HCL loss stays float32 inside).
    """
    model = build_algorithm(cfg, impl, device, teacher, channels_last)
    inputs, samples = synthetic_batch(model.student, batch_size,
                                      input_size or train_input_size(cfg), device=device)
    if channels_last:  # as the model's forward converts them
        inputs = channels_last_batch(inputs)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-4, momentum=0.9)
    dtype = {None: None, 'bf16': torch.bfloat16, 'fp16': torch.float16}[amp]
    device_type = device.split(':')[0]

    def autocast():
        return torch.autocast(device_type, dtype=dtype) if dtype else nullcontext()

    def train_step(loss_fn: Callable[[], dict]) -> Callable[[], None]:
        def step() -> None:
            with autocast():
                loss, _ = model.parse_losses(loss_fn())
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return step

    def teacher_forward() -> None:
        with autocast():
            model.teacher_features(inputs, samples)

    return dict(student=train_step(lambda: model.student.loss(inputs, samples)),
                teacher=teacher_forward,
                distill=train_step(lambda: model.loss(inputs, samples)))


def benchmark_distillation(cfg: Config, impl: str, batch_size: int, device: str = 'cpu',
                           amp: Optional[str] = None, channels_last: bool = False,
                           warmup: int = 2, steps: int = 5,
                           input_size: Optional[Sequence[int]] = None,
                           teacher: str = DEFAULT_TEACHER, parts: Sequence[str] = PARTS
                           ) -> Dict[str, object]:
    """Peak memory of one step and times of ``steps`` steps of each of ``parts`` of
    :func:`distillation_parts`, and the overhead distill / (student + teacher) when all run.

    The step times depend on the heap a process already has (``tools/analysis_tools/
    benchmark.py`` runs each implementation in processes of its own).
    """
    input_size = list(input_size or train_input_size(cfg))
    measured = {name: step for name, step in distillation_parts(
        cfg, impl, batch_size, device, amp, channels_last, input_size, teacher).items()
        if name in parts}
    peaks = {name: peak_memory_mib(step, device) for name, step in measured.items()}
    times = time_interleaved(measured, device, warmup, steps)
    return merge_rounds([dict(
        impl=impl, device=device, batch_size=batch_size, input_size=input_size,
        amp=amp, channels_last=channels_last, teacher_variant=teacher,
        **{name: dict(times_ms=times[name], peak_mib=peaks[name]) for name in measured})])


def merge_rounds(rounds: Sequence[Dict[str, object]]) -> Dict[str, object]:
    """One case from rounds of :func:`benchmark_distillation` of one implementation: the step
    times pooled, the peaks the largest of the rounds."""
    case = dict(rounds[0])
    parts = [name for name in PARTS if name in case]
    for name in parts:
        times = [t for r in rounds for t in r[name]['times_ms']]
        case[name] = dict(summarize(times), times_ms=times,
                          peak_mib=max(r[name]['peak_mib'] for r in rounds))
    case['steps'] = len(case[parts[-1]]['times_ms'])
    if len(parts) == len(PARTS):
        case['overhead'] = case['distill']['ms'] / (case['student']['ms'] + case['teacher']['ms'])
    return case
