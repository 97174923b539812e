"""Benchmark a distillation config: student step, teacher forward, distillation step.

Synthetic batches of the student's task (labels; boxes and masks; segmentation maps) at the
config's training input size or --input-size; median and spread over N steps after
warm-up; the peak memory torch allocates in one step of each (CUDA allocator, or torch's
profiler on CPU). Each implementation runs in processes of its own, alternating over
--rounds, with the steps of all its rounds pooled. --teacher compares teacher variants
(each implementation with each variant is a case of its own): 'default' (the teacher as
configured), or options joined by '+': unfolded (fold_bn=False), bfloat16 or float16
(model.teacher.dtype), channels_last.
Prints a table, or one JSON line per case with --json.

    python tools/analysis_tools/benchmark.py configs/imagenet/reviewkd_resnet34_resnet18_in1k.py \\
        --batch-size 8 --impl fast reference
    python tools/analysis_tools/benchmark.py \\
        configs/cifar100/reviewkd_resnet32x4_resnet8x4_cifar100.py \\
        --batch-size 64 --impl fast --teacher unfolded default bfloat16
"""
import argparse
import json
import sys

from mmengine.config import DictAction

from rkd.analysis.benchmark import (DEFAULT_TEACHER, PARTS, benchmark_distillation,
                                    json_of_last_line, merge_rounds, teacher_variant,
                                    time_dataloader)
from rkd.apis import load_config
from rkd.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='a distillation config (rkd.SingleTeacherDistill)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1 ...')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                        help='image size of the synthetic batches (default: the size the '
                        'config trains at, e.g. its crop size)')
    parser.add_argument('--amp', choices=['bf16', 'fp16'], help='autocast dtype')
    parser.add_argument('--channels-last', action='store_true',
                        help='model.channels_last=True: student, teacher and connector in '
                        'channels_last, and the batch')
    parser.add_argument('--impl', nargs='+', default=['fast', 'reference'],
                        choices=['fast', 'reference'], help='connector and loss forms to run')
    parser.add_argument('--teacher', nargs='+', default=[DEFAULT_TEACHER], metavar='VARIANT',
                        help='teacher variants to run: default, or options joined by +: '
                        'unfolded, bfloat16, float16, channels_last')
    parser.add_argument('--parts', nargs='+', default=list(PARTS), choices=PARTS,
                        help='the steps to measure (all three give the overhead)')
    parser.add_argument('--steps', type=int, default=5, help='timed steps per measurement')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps before them')
    parser.add_argument('--data-batches', type=int, default=0,
                        help='also time this many batches of the config\'s real training '
                        'dataloader (use --batch-size equal to its batch size to compare)')
    parser.add_argument('--json', action='store_true', help='one JSON line per case')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--rounds', type=int, default=2,
                        help='fresh processes per implementation, alternating between them so '
                        'a machine whose speed drifts slows all alike; their steps are pooled')
    parser.add_argument('--fp32-reference', action='store_true',
                        help='run the reference form in float32 without --amp and '
                        '--channels-last: the baseline of the mixed-precision figures')
    # see case_in_own_process
    parser.add_argument('--one-impl', help=argparse.SUPPRESS)
    parser.add_argument('--one-teacher', help=argparse.SUPPRESS)
    args = parser.parse_args()
    for variant in args.teacher:
        try:
            teacher_variant(variant)
        except ValueError as error:
            parser.error(str(error))
    return args


def case_in_own_process(impl: str, teacher: str) -> dict:
    """This script's figures for ``impl`` with the teacher variant ``teacher`` alone, from a
    fresh process: the heap an earlier model leaves behind changes how often the C allocator
    hands out fresh pages, which is part of a step's cost in training."""
    return json_of_last_line([sys.executable, __file__, *sys.argv[1:], '--one-impl', impl,
                              '--one-teacher', teacher])


def label(case: dict) -> str:
    return case['impl'] if case['teacher_variant'] == DEFAULT_TEACHER \
        else f'{case["impl"]}/{case["teacher_variant"]}'


def print_table(config: str, cases: list) -> None:
    print(f'{config}: batch {cases[0]["batch_size"]}, input {cases[0]["input_size"]}, '
          f'{cases[0]["device"]}, median of {cases[0]["steps"]} steps (min-max)')
    for case in cases:
        print(f'{label(case)}: amp {case["amp"]}, channels_last {case["channels_last"]}')
    width = max(10, *(len(label(case)) for case in cases))
    print(f'{"impl":<{width}} {"part":<8} {"ms":>9} {"min-max":>17} {"peak MiB":>9}')
    for case in cases:
        for part in (part for part in PARTS if part in case):
            fig = case[part]
            spread = f'{fig["min_ms"]:.1f}-{fig["max_ms"]:.1f}'
            print(f'{label(case):<{width}} {part:<8} {fig["ms"]:>9.1f} {spread:>17} '
                  f'{fig["peak_mib"]:>9.0f}')
        if 'overhead' in case:
            print(f'{label(case):<{width}} overhead distill / (student + teacher) = '
                  f'{case["overhead"]:.2f}')
    for teacher in dict.fromkeys(case['teacher_variant'] for case in cases):
        by_impl = {case['impl']: case for case in cases if case['teacher_variant'] == teacher}
        if {'fast', 'reference'} <= set(by_impl) and 'distill' in by_impl['fast']:
            fast, ref = by_impl['fast']['distill'], by_impl['reference']['distill']
            print(f'fast vs reference distillation step ({teacher} teacher): '
                  f'{ref["ms"] / fast["ms"]:.2f}x throughput, '
                  f'{fast["peak_mib"] / max(ref["peak_mib"], 1e-9):.2f}x peak memory')
    base = cases[0]
    for case in cases[1:]:
        if case['impl'] == base['impl']:
            print(f'{label(case)} vs {label(base)}: ' + ', '.join(
                f'{part} {base[part]["ms"] / case[part]["ms"]:.2f}x throughput'
                for part in PARTS if part in case))


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    if args.one_impl:
        mixed = not (args.fp32_reference and args.one_impl == 'reference')
        case = benchmark_distillation(cfg, args.one_impl, args.batch_size, args.device,
                                      args.amp if mixed else None, args.channels_last and mixed,
                                      args.warmup, args.steps, args.input_size,
                                      args.one_teacher, args.parts)
        print(json.dumps(case))
        return
    keys = [(impl, teacher) for impl in args.impl for teacher in args.teacher]
    rounds = {key: [] for key in keys}
    for _ in range(args.rounds):
        for impl, teacher in keys:
            try:
                rounds[impl, teacher].append(case_in_own_process(impl, teacher))
            except ChildProcessError as error:
                raise SystemExit(f'Benchmarking the {impl} form of {args.config} with the '
                                 f'{teacher} teacher failed.\n{error}')
    cases = [merge_rounds(rounds[key]) for key in keys]
    if args.json:
        for case in cases:
            print(json.dumps(dict(config=args.config, **case)))
    else:
        print_table(args.config, cases)
    if args.data_batches:
        data = time_dataloader(cfg, args.data_batches)
        if args.json:
            print(json.dumps(dict(config=args.config, dataloader=data)))
        else:
            print(f'real dataloader: {data["ms"]:.1f} ms a batch of {data["batch_size"]} '
                  f'({data["min_ms"]:.1f}-{data["max_ms"]:.1f}, {data["num_workers"]} workers)')


if __name__ == '__main__':
    main()
