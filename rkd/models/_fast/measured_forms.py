"""The default form of the connector and loss on each kind of device, and the measurement that
made it the default.

Which exact form is fastest depends on the device: on CPUs the fast form's fewer passes over
memory pay, on a GPU they are unmeasured. A kind of device that has no measurement gets
:data:`UNMEASURED_DEFAULT`, and the build log says so.
"""
from pathlib import Path
from typing import NamedTuple, Optional, Set, Tuple

import torch


class Measured(NamedTuple):
    """The fastest exact form on a kind of device (None: unmeasured there), and where, when and
    how that was measured."""
    form: Optional[str]
    source: str


CPU_AVX512_BF16 = 'CPU with AVX-512 BF16'
CPU = 'CPU without AVX-512 BF16'
CUDA = 'CUDA GPU'

MEASURED_FORMS = {
    CPU_AVX512_BF16: Measured(
        'fast', 'docs/performance.md, "an earlier machine": 2 cores, CPU model not recorded, '
        'bf16 autocast 2.8x faster than fp32 there, which suggests native bf16; benchmark.py '
        'distillation step fast vs reference fp32: 1.29x (CIFAR resnet32x4->resnet8x4, batch '
        '64), 1.22x (ImageNet ResNet34->ResNet18, batch 8)'),
    CPU: Measured(
        'fast', 'docs/performance.md, 2-core AMD EPYC without AVX-512, quiet machine, 2026-12: '
        'bench_connector.py --iters 8, connector + loss fast 2270 vs reference 2896 ms (CIFAR, '
        'batch 64) and 1966 vs 2284 ms (ImageNet, batch 8); --compile (CIFAR): compiled 2194 '
        'vs fast 2103 ms, 561 vs 178 MB; this machine kind again on 2026-12-07 after the '
        'folded-BN changes, loaded, --threads 1: fast 3054 vs reference 5683 ms (CIFAR), 2763 vs '
        '3499 ms (ImageNet)'),
    CUDA: Measured(None, 'no GPU was at hand: tools/analysis_tools/gpu_report.py measures it'),
}

# What a kind of device without a measurement runs, and why.
UNMEASURED_DEFAULT = 'fast'
UNMEASURED_REASON = ('it keeps under a quarter of the reference\'s tensors for backward on any '
                     'device (tested), and was the fastest exact form on both CPUs measured')


def device_kind() -> str:
    """The kind of device training will run on: a CUDA GPU when one is visible (the Runner puts
    the model there), else this CPU, told apart by native bf16 (AVX-512 BF16)."""
    if torch.cuda.is_available():
        return CUDA
    return CPU_AVX512_BF16 if _has_avx512_bf16() else CPU


def _has_avx512_bf16() -> bool:
    """torch's own dispatch level says whether it runs AVX-512 kernels; it does not tell BF16
    apart, which the CPU's flags do."""
    if not torch.backends.cpu.get_cpu_capability().startswith('AVX512'):
        return False
    return bool({'avx512_bf16', 'amx_bf16'} & cpu_flags())


def cpu_flags() -> Set[str]:
    """The CPU's feature flags as Linux lists them; empty elsewhere."""
    cpuinfo = Path('/proc/cpuinfo')
    return set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()


def default_form(kind: Optional[str] = None) -> Tuple[str, str]:
    """(form, why) for ``kind`` (by default this machine's :func:`device_kind`)."""
    kind = device_kind() if kind is None else kind
    measured = MEASURED_FORMS.get(kind, Measured(None, 'no entry in MEASURED_FORMS'))
    if measured.form is None:
        return UNMEASURED_DEFAULT, (f'unmeasured on this kind of device ({kind}; '
                                    f'{measured.source}): {UNMEASURED_DEFAULT} chosen because '
                                    f'{UNMEASURED_REASON}')
    return measured.form, f'measured fastest on this kind of device ({kind}: {measured.source})'
