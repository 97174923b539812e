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
