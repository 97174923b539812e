"""The benchmark runs on every shipped config family; its figures are sane, not timed."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from rkd.apis.benchmark import (benchmark_distillation, merge_rounds, peak_memory_mib,
                                time_dataloader, train_input_size)

CONFIGS = Path(__file__).parents[2] / 'configs'
FAMILIES = {
    'cifar100/reviewkd_resnet56_resnet20_cifar100.py': [32, 32],
    'imagenet/reviewkd_resnet34_resnet18_in1k.py': [224, 224],
    'digits/reviewkd_resnet32_resnet8_digits.py': [32, 32],
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
    for part in ('student', 'teacher', 'distill'):
        assert case[part]['ms'] > 0 and case[part]['peak_mib'] >= 0
        assert case[part]['min_ms'] <= case[part]['ms'] <= case[part]['max_ms']
    assert case['overhead'] == pytest.approx(
        case['distill']['ms'] / (case['student']['ms'] + case['teacher']['ms']))


def test_peak_memory_sees_a_step_allocation():
    """A step holding 64 MiB at once shows at least that much above its start, on CPU."""
    def step():
        block = torch.ones(16 * 2**20)
        block.add_(1)

    assert 60 < peak_memory_mib(step, 'cpu') < 200


def test_real_dataloader_is_timed():
    cfg = Config.fromfile(str(CONFIGS / 'digits/reviewkd_resnet32_resnet8_digits.py'))
    data = time_dataloader(cfg, batches=12)  # more than one epoch of 300 images
    assert data['batch_size'] == cfg.train_dataloader.batch_size and data['ms'] > 0


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
    assert case['input_size'] == [64, 96]
    for part in ('student', 'teacher', 'distill'):
        assert case[part]['ms'] > 0


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
    assert case['input_size'] == [48, 48] and case['distill']['ms'] > 0
