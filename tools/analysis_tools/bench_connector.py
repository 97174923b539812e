"""Time ABFConnector + HCLoss forward and backward, reference vs fast, on the paper's two shapes.

Timings interleave the forms iteration by iteration, so a noisy machine slows all of them alike;
peak memory is what torch allocates in one step (torch's profiler on CPU, the allocator's peak on
CUDA). ``--compile`` adds the ``compiled`` form (the reference through ``torch.compile``,
compiled in the untimed warm-up). A last row times the connector's convolutions alone,
forward and backward, channels_last: the floor of any exact form.

    python tools/analysis_tools/bench_connector.py --iters 10
    python tools/analysis_tools/bench_connector.py --compile --cases 'cifar resnet32x4->resnet8x4'
    python tools/analysis_tools/bench_connector.py --device cuda
"""
import argparse
from typing import Callable

import torch

from rkd.analysis.benchmark import peak_memory_mib, summarize, time_interleaved
from rkd.registry import MODELS

# name: (student channels, teacher channels, map sizes, batch)
CASES = {
    'cifar resnet32x4->resnet8x4': ([64, 128, 256, 256], [64, 128, 256, 256], [32, 16, 8, 1], 64),
    'imagenet resnet34->resnet18':
    ([64, 128, 256, 512, 512], [64, 128, 256, 512, 512], [56, 28, 14, 7, 1], 8),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--iters', type=int, default=10, help='timed iterations')
    parser.add_argument('--warmup', type=int, default=2, help='untimed iterations first')
    parser.add_argument('--cases', nargs='+', choices=list(CASES), default=list(CASES))
    parser.add_argument('--threads', type=int, help='torch.set_num_threads')
    parser.add_argument('--compile', action='store_true',
                        help="also time impl='compiled' (the reference through torch.compile)")
    return parser.parse_args()


def make_step(case: str, impl: str, device: str) -> Callable[[], None]:
    """One training step of connector + loss on random features, as the distiller runs it."""
    s_ch, t_ch, sizes, batch = CASES[case]
    torch.manual_seed(0)
    connector = MODELS.build(
        dict(type='rkd.ABFConnector', student_channels=s_ch, teacher_channels=t_ch,
             impl=impl)).to(device).train()
    loss = MODELS.build(dict(type='rkd.HCLoss', loss_weight=1.0, impl=impl))
    s_feats = [torch.randn(batch, c, s, s, device=device, requires_grad=True)
               for c, s in zip(s_ch, sizes)]
    t_feats = [torch.randn(batch, c, s, s, device=device) for c, s in zip(t_ch, sizes)]
    t_sizes = [tuple(t.shape[-2:]) for t in t_feats]

    def step() -> None:
        loss(connector(s_feats, t_sizes), t_feats).backward()
        # Freed here, not at the next step's start, so a step's peak counts its own gradients.
        connector.zero_grad(set_to_none=True)
        for f in s_feats:
            f.grad = None
        if device.startswith('cuda'):
            torch.cuda.synchronize()

    return step


def make_conv_floor_step(case: str, device: str) -> Callable[[], None]:
    """Forward and backward (input and weight gradients) of each ABF's conv1 and conv2 on random
    maps of their shapes, and nothing else."""
    s_ch, t_ch, sizes, batch = CASES[case]
    mid = min(512, s_ch[-1])
    convs = []
    for c_in, c_out, size in zip(s_ch, t_ch, sizes):
        for conv_in, conv_out, k in ((c_in, mid, 1), (mid, c_out, 3 if size > 1 else 1)):
            conv = torch.nn.Conv2d(conv_in, conv_out, k, padding=k // 2, bias=False)
            x = torch.randn(batch, conv_in, size, size, device=device, requires_grad=True)
            convs.append((conv.to(device, memory_format=torch.channels_last),
                          x.contiguous(memory_format=torch.channels_last)))

    def step() -> None:
        for conv, x in convs:
            conv(x).sum().backward()
        if device.startswith('cuda'):
            torch.cuda.synchronize()

    return step


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    impls = ('reference', 'fast') + (('compiled', ) if args.compile else ())
    print(f'device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} '
          f'iters={args.iters} warmup={args.warmup}')
    header = (f'{"case":30s} {"impl":10s} {"median ms":>10s} {"min ms":>9s} {"speedup":>8s} '
              f'{"peak MB":>9s} {"mem ratio":>9s}')
    print(header)
    print('-' * len(header))
    for case in args.cases:
        steps = {impl: make_step(case, impl, args.device) for impl in impls}
        steps['convs only'] = make_conv_floor_step(case, args.device)
        times = {impl: summarize(t) for impl, t in time_interleaved(
            steps, args.device, args.warmup, args.iters).items()}
        memory = {impl: peak_memory_mib(steps[impl], args.device) for impl in impls}
        ref_ms, ref_mb = times['reference']['ms'], memory['reference']
        for impl in impls:
            ms = times[impl]['ms']
            print(f'{case:30s} {impl:10s} {ms:10.1f} {times[impl]["min_ms"]:9.1f} '
                  f'{ref_ms / ms:7.2f}x {memory[impl]:9.1f} {memory[impl] / ref_mb:9.2f}')
        floor = times['convs only']
        print(f'{case:30s} {"convs only":10s} {floor["ms"]:10.1f} {floor["min_ms"]:9.1f} '
              f'{ref_ms / floor["ms"]:7.2f}x')
        for impl in impls:
            print(f'{impl}: connector + loss / convs only = {times[impl]["ms"] / floor["ms"]:.2f}')


if __name__ == '__main__':
    main()
