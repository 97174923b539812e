"""Time and memory of a distillation step against its parts, on synthetic batches.

One process, one model: the student's train step alone, the teacher's forward alone (exactly what
the distillation step runs of it) and the whole distillation step, each after warm-up, as the
median and spread of N steps, with the peak memory of each.

Peak memory is taken first, one warmed-up step per part. On CPU the resident set follows what
torch holds only when freed blocks go back to the OS, so for that phase glibc serves every block
of 64 KiB or more by mmap (``mallopt``). That would slow the timed steps with page faults, so the
timings come after, under the allocator's settled policy, as in training.
"""
import ctypes
import statistics
import time
from contextlib import contextmanager, nullcontext
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from rkd.registry import MODELS

# Pipeline keys that carry the training crop size, in mmpretrain's transforms.
SIZE_KEYS = ('crop_size', 'scale', 'size')


def train_input_size(cfg: Config) -> List[int]:
    """The (H, W) the training pipeline feeds the network: its last crop or resize size."""
    size = None
    for transform in cfg.get('train_dataloader', {}).get('dataset', {}).get('pipeline', []):
        for key in SIZE_KEYS:
            if isinstance(transform.get(key), int):
                size = [transform[key]] * 2
            elif isinstance(transform.get(key), (tuple, list)):
                size = list(transform[key])[::-1]  # mmcv sizes are (w, h)
    if size is None:
        size = list(cfg.model.get('probe_input_shape', (3, 224, 224)))[1:]
    return size


def build_algorithm(cfg: Config, impl: str, device: str) -> torch.nn.Module:
    """The config's distillation model with the connector and loss forms set to ``impl``.

    The teacher keeps its random weights: speed and memory do not depend on them.
    """
    model_cfg = cfg.model.copy()
    model_cfg.teacher.checkpoint = None
    model_cfg.distiller.connector.impl = impl
    model_cfg.distiller.loss.impl = impl
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        return MODELS.build(model_cfg).to(device).train()


def synthetic_batch(model: torch.nn.Module, batch_size: int, size: Sequence[int],
                    device: str, channels_last: bool) -> tuple:
    """Normalised random images and classification samples with random labels."""
    from mmpretrain.structures import DataSample
    num_classes = model.student.head.num_classes
    inputs = torch.randn(batch_size, 3, *size, device=device)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(num_classes, (batch_size, )).tolist()
    samples = [DataSample().set_gt_label(label) for label in labels]
    return inputs, [s.to(device) for s in samples]


# glibc's mallopt parameters, and the mmap / trim thresholds its dynamic policy settles at
# (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit, and twice that), restored after a measurement.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
EXACT_MMAP_THRESHOLD = 64 * 1024
STEADY_MMAP_THRESHOLD = 32 * 1024 * 1024


def _mallopt(param: int, value: int) -> bool:
    """glibc's ``mallopt``; False where the C library has none (the figure is then rougher)."""
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(param, value)) and libc.malloc_trim(0) >= 0
    except (AttributeError, OSError):
        return False


@contextmanager
def freed_memory_returned() -> Iterator[None]:
    """Blocks of 64 KiB or more are mmapped, so freeing them shrinks the resident set."""
    _mallopt(M_MMAP_THRESHOLD, EXACT_MMAP_THRESHOLD)
    _mallopt(M_TRIM_THRESHOLD, EXACT_MMAP_THRESHOLD)
    try:
        yield
    finally:
        _mallopt(M_MMAP_THRESHOLD, STEADY_MMAP_THRESHOLD)
        _mallopt(M_TRIM_THRESHOLD, 2 * STEADY_MMAP_THRESHOLD)


class PeakMemory:
    """Peak memory of a block above its start: the CUDA allocator's peak, or on CPU the peak
    resident set (Linux ``VmHWM``, reset at the start through ``/proc/self/clear_refs``), exact
    inside :func:`freed_memory_returned`."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.peak_mib = 0.0

    @staticmethod
    def _status_mib(field: str) -> float:
        with open('/proc/self/status') as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024

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
        start = self._status_mib('VmRSS')
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')  # resets the peak (VmHWM) to the current resident set
        yield self
        self.peak_mib = max(0.0, self._status_mib('VmHWM') - start)


def _summary(times: List[float]) -> Dict[str, float]:
    return dict(ms=statistics.median(times), min_ms=min(times), max_ms=max(times))


def time_steps(step: Callable[[], None], device: str, warmup: int, steps: int
               ) -> Dict[str, float]:
    """Median and spread (min-max) of ``steps`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return _summary(times)


def peak_memory_mib(step: Callable[[], None], device: str) -> float:
    """Peak memory of the second call of ``step`` above what it starts with; the first call
    makes what lasts (optimizer state, kernel caches)."""
    with freed_memory_returned():
        step()
        with PeakMemory(device).measure() as memory:
            step()
    return memory.peak_mib


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
    return dict(_summary(times), batch_size=loader.batch_size, num_workers=loader.num_workers)


def benchmark_distillation(cfg: Config, impl: str, batch_size: int, device: str = 'cpu',
                           amp: Optional[str] = None, channels_last: bool = False,
                           warmup: int = 2, steps: int = 5) -> Dict[str, object]:
    """Student step, teacher forward and distillation step of ``cfg`` in one process.

    ``amp``: None, ``'bf16'`` or ``'fp16'`` autocast (the HCL loss stays float32 inside).
    """
    model = build_algorithm(cfg, impl, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    size = train_input_size(cfg)
    inputs, samples = synthetic_batch(model, batch_size, size, device, channels_last)
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

    parts = dict(student=train_step(lambda: model.student.loss(inputs, samples)),
                 teacher=teacher_forward,
                 distill=train_step(lambda: model.loss(inputs, samples)))
    peaks = {name: peak_memory_mib(step, device) for name, step in parts.items()}
    figures = {name: dict(time_steps(step, device, warmup, steps), peak_mib=peaks[name])
               for name, step in parts.items()}
    parts_ms = figures['student']['ms'] + figures['teacher']['ms']
    return dict(impl=impl, device=device, batch_size=batch_size, input_size=size, amp=amp,
                channels_last=channels_last, steps=steps, **figures,
                overhead=figures['distill']['ms'] / parts_ms)
