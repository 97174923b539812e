"""The benchmark runs on every shipped config family and pools its rounds as documented; its
memory figures are compared: the reference form's peak above the fast form's, a known block
within a tolerance (times are not asserted)."""
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from rkd.analysis import benchmark
from rkd.analysis.benchmark import (PARTS, benchmark_distillation, build_algorithm, merge_rounds,
                                    peak_memory_mib, teacher_variant, time_dataloader,
                                    train_input_size)

CONFIGS = Path(__file__).parents[2] / 'configs'
FAMILIES = {
    'cifar100/reviewkd_resnet56_resnet20_cifar100.py': [32, 32],
    'imagenet/reviewkd_resnet34_resnet18_in1k.py': [224, 224],
    'digits/reviewkd_resnet32_resnet8_digits.py': [16, 16],
}


@pytest.fixture(autouse=True)
def repo_root(monkeypatch):
    monkeypatch.chdir(CONFIGS.parent)  # teacher config paths are relative to it


@pytest.mark.slow
@pytest.mark.parametrize('config', FAMILIES)
def test_every_family_benchmarks_on_cpu(config):
    cfg = Config.fromfile(str(CONFIGS / config))
    assert train_input_size(cfg) == FAMILIES[config]
    rounds = [benchmark_distillation(cfg, 'fast', batch_size=2, warmup=0, steps=1)
              for _ in range(2)]
    case = merge_rounds(rounds)
    assert case['steps'] == 2
    for part in PARTS:
        assert case[part]['times_ms'] == [t for r in rounds for t in r[part]['times_ms']]
        assert case[part]['peak_mib'] == max(r[part]['peak_mib'] for r in rounds)
        assert case[part]['ms'] == statistics.median(case[part]['times_ms'])
    # the distillation step holds the student's activations and the connector's maps
    assert case['distill']['peak_mib'] > case['student']['peak_mib']


def test_each_part_reports_its_own_steps_time_and_peak(monkeypatch):
    """Stand-in parts of known duration and allocation: each part's figures are its own, the
    steps timed are those run after the warm-up, two calls go to the peak (the first makes
    what lasts), and the overhead is distill / (student + teacher)."""
    plan = dict(student=(1, 8), teacher=(2, 16), distill=(30, 40))  # (ms at least, MiB held)
    calls = dict.fromkeys(PARTS, 0)

    def part(name):
        ms, mib = plan[name]

        def step():
            calls[name] += 1
            block = torch.ones(mib * 2**18)  # float32: 4 bytes an element
            time.sleep(ms / 1000)
            block.add_(1)
        return step

    monkeypatch.setattr(benchmark, 'distillation_parts',
                        lambda *args, **kwargs: {name: part(name) for name in PARTS})
    case = benchmark_distillation(Config(), 'fast', batch_size=2, warmup=3, steps=4,
                                  input_size=(8, 8))
    assert calls == dict.fromkeys(PARTS, 2 + 3 + 4)
    assert case['steps'] == 4
    for name, (ms, mib) in plan.items():
        assert len(case[name]['times_ms']) == 4 and case[name]['min_ms'] >= ms
        assert case[name]['peak_mib'] == pytest.approx(mib, abs=1)
    assert case['overhead'] == pytest.approx(
        case['distill']['ms'] / (case['student']['ms'] + case['teacher']['ms']))


def test_rounds_pool_their_times_and_keep_the_largest_peak():
    rounds = [{part: dict(times_ms=times, peak_mib=peak) for part in PARTS}
              for times, peak in (([30.0, 10.0], 5.0), ([20.0], 7.5))]
    case = merge_rounds(rounds)
    assert case['steps'] == 3
    assert case['distill'] == dict(ms=20.0, min_ms=10.0, max_ms=30.0,
                                   times_ms=[30.0, 10.0, 20.0], peak_mib=7.5)
    assert case['overhead'] == pytest.approx(0.5)  # 20 / (20 + 20)


def test_rounds_of_some_parts_have_no_overhead():
    rounds = [dict(teacher_variant='bfloat16', teacher=dict(times_ms=[4.0, 2.0], peak_mib=1.0))]
    case = merge_rounds(rounds)
    assert case['steps'] == 2 and case['teacher']['ms'] == 3.0
    assert 'overhead' not in case and 'distill' not in case


def test_teacher_variants_join_options():
    assert teacher_variant('default') == {}
    assert teacher_variant('unfolded+bfloat16+channels_last') == dict(
        fold_bn=False, dtype='bfloat16', channels_last=True)
    with pytest.raises(ValueError, match='bf16'):
        teacher_variant('bf16')


def test_teacher_variants_build_as_named_and_leave_the_config_alone():
    cfg = Config.fromfile(str(CONFIGS / 'digits/reviewkd_resnet32_resnet8_digits.py'))
    unfolded = build_algorithm(cfg, 'fast', 'cpu', 'unfolded+channels_last')
    assert unfolded.teacher_folding is None
    assert unfolded.teacher.backbone.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)
    assert 'fold_bn' not in cfg.model.teacher
    folded = build_algorithm(cfg, 'fast', 'cpu')  # the digits teacher normalises in eval mode
    assert folded.teacher_folding is not None and folded.teacher_dtype is None
    assert build_algorithm(cfg, 'fast', 'cpu', 'bfloat16').teacher_dtype == torch.bfloat16


@pytest.mark.slow
def test_reference_form_peaks_above_the_fast_form():
    """The reference connector and loss keep more of each level's maps for backward than the
    fast form (CIFAR resnet56 -> resnet20, batch 16: about 70 against 60 MiB); the student's
    step and the teacher's forward, which run no connector, peak alike under both, and the
    distillation step holds more than the two."""
    cmd = [sys.executable, 'tools/analysis_tools/benchmark.py',
           'configs/cifar100/reviewkd_resnet56_resnet20_cifar100.py', '--batch-size', '16',
           '--steps', '1', '--warmup', '0', '--rounds', '1', '--json']
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    peaks = {case['impl']: {part: case[part]['peak_mib'] for part in PARTS}
             for case in map(json.loads, out.strip().splitlines())}
    fast, reference = peaks['fast'], peaks['reference']
    assert reference['distill'] > fast['distill'] + 5
    for part in ('student', 'teacher'):
        assert reference[part] == pytest.approx(fast[part], abs=1.0)
    assert fast['distill'] > fast['student'] + fast['teacher']


def test_peak_memory_sees_a_step_allocation():
    """A step holding 64 MiB at once shows at least that much above its start, on CPU."""
    def step():
        block = torch.ones(16 * 2**20)
        block.add_(1)

    assert 60 < peak_memory_mib(step, 'cpu') < 200


def test_real_dataloader_is_timed():
    cfg = Config.fromfile(str(CONFIGS / 'digits/reviewkd_resnet32_resnet8_digits.py'))
    data = time_dataloader(cfg, batches=12)  # more than one epoch of 300 images
    assert (data['batch_size'], data['num_workers']) \
        == (cfg.train_dataloader.batch_size, cfg.train_dataloader.num_workers)


def dense_config(student: dict, teacher: dict, scope: str, **cfg) -> Config:
    """A distillation config of FPN / decode-head features for the dense tasks."""
    return Config(dict(
        default_scope=scope,
        model=dict(type='rkd.SingleTeacherDistill', student=student,
                   teacher=dict(config=teacher, checkpoint=None),
                   distiller=dict(type='rkd.ReviewKDDistiller', student_recorders=['neck'],
                                  teacher_recorders=['neck'],
                                  connector=dict(type='rkd.ABFConnector', mid_channels=16),
                                  loss=dict(type='rkd.HCLoss'))),
        **cfg))


def test_detection_benchmarks_with_boxes_and_masks():
    """A two-stage student with a mask head and a one-stage teacher, at the largest of the
    pipeline's multi-scale choices unless a size is given."""
    import mmdet.models  # noqa: F401

    from tiny_detectors import tiny_detector
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='RandomChoiceResize', scales=[(1333, 640), (1333, 800)]),
                dict(type='PackDetInputs')]
    cfg = dense_config(tiny_detector('mask_rcnn'), tiny_detector('retinanet', 16, 32), 'mmdet',
                       train_dataloader=dict(dataset=dict(pipeline=pipeline)))
    assert train_input_size(cfg) == [800, 1333]
    case = benchmark_distillation(cfg, 'fast', batch_size=2, warmup=0, steps=1,
                                  input_size=(64, 96))
    assert case['input_size'] == [64, 96] and case['steps'] == 1
    assert case['distill']['peak_mib'] > case['student']['peak_mib'] > 0


def test_segmentation_benchmarks_at_the_preprocessors_crop_size():
    import mmseg.models  # noqa: F401

    from tiny_segmentors import tiny_segmentor
    student, teacher = tiny_segmentor(8), tiny_segmentor(16)
    cfg = dense_config(student, teacher, 'mmseg')
    cfg.model.distiller.student_recorders = ['auxiliary_head.convs', 'decode_head.convs']
    cfg.model.distiller.teacher_recorders = [dict(source='backbone', element=2),
                                             'decode_head.convs']
    assert train_input_size(cfg) == [48, 48]
    case = benchmark_distillation(cfg, 'fast', batch_size=2, warmup=0, steps=1)
    assert case['input_size'] == [48, 48] and case['steps'] == 1
    assert case['distill']['peak_mib'] > case['student']['peak_mib'] > 0
