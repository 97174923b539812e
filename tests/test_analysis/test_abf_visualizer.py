"""visualize_abf: the maps it draws are the ABF's own attention and the features' energies, its
pictures change with the maps, and the tool writes one picture a level from a checkpoint."""
import dataclasses
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from rkd.analysis.abf_visualizer import abf_maps, energy, save_level_figure
from rkd.apis import build_distillation

from helpers import reviewkd_algorithm, write_config, write_image_folder

REPO = Path(__file__).parents[2]


def run(monkeypatch, tool: str, *args: str) -> None:
    monkeypatch.setattr(sys, 'argv', [tool, *args])
    runpy.run_path(str(REPO / 'tools' / tool), run_name='__main__')


def test_one_png_a_level_with_attention_panels(tmp_path, monkeypatch):
    write_image_folder(tmp_path / 'data')
    write_config(tmp_path / 'distill.py', tmp_path / 'data', None, max_iters=1)
    run(monkeypatch, 'train.py', str(tmp_path / 'distill.py'), '--work-dir', str(tmp_path / 'w'))
    image = next((tmp_path / 'data' / 'class0').glob('*.png'))

    run(monkeypatch, 'analysis_tools/visualize_abf.py', str(tmp_path / 'distill.py'),
        str(tmp_path / 'w' / 'iter_1.pth'), str(image), '--out-dir', str(tmp_path / 'vis'))

    pictures = sorted((tmp_path / 'vis').glob('level_*.png'))
    assert [p.name for p in pictures] == [f'level_{i}.png' for i in range(5)]
    sizes = [Image.open(p).size for p in pictures]
    # five panels (two attention maps, three energies) on fusing levels, three on the deepest
    assert all(width == 1600 for width, _ in sizes[:4]) and sizes[4][0] == 960
    assert all(height == 340 for _, height in sizes)
    pixels = np.asarray(Image.open(pictures[0]).convert('L'))
    assert pixels.std() > 10  # drawn, not blank


@pytest.fixture
def model():
    import mmpretrain.models  # noqa: F401
    torch.manual_seed(0)
    cfg = Config(dict(default_scope='mmpretrain', model=reviewkd_algorithm()))
    return build_distillation(cfg).eval()


def test_attention_maps_are_each_levels_own_abf_weights(model):
    """With an attention conv that ignores its input, each level's two maps are the constant
    sigmoid of its two biases: the right level, the right channel, the sigmoid applied."""
    abfs = model.distiller.connector.abfs
    for level, abf in enumerate(abfs[:-1]):
        torch.nn.init.zeros_(abf.att.weight)
        abf.att.bias.data = torch.tensor([-1.0 - level, 0.5 + level])
    maps = abf_maps(model, torch.randn(1, 3, 16, 16))
    assert len(maps) == len(abfs) and maps[-1].attention is None  # the deepest fuses nothing
    for level, level_maps in enumerate(maps[:-1]):
        student_weight, residual_weight = level_maps.attention
        assert student_weight.shape == level_maps.output.shape
        np.testing.assert_allclose(student_weight, 1 / (1 + np.exp(1.0 + level)), rtol=1e-6)
        np.testing.assert_allclose(residual_weight, 1 / (1 + np.exp(-0.5 - level)), rtol=1e-6)


def test_energies_are_the_recorded_features_and_the_connectors_output(model):
    inputs = torch.randn(1, 3, 16, 16)
    maps = abf_maps(model, inputs)
    student, teacher = model.probe_features(inputs)
    with torch.no_grad():
        outputs = model.distiller.connector(student, [t.shape[-2:] for t in teacher])
    for level_maps, s, o, t in zip(maps, student, outputs, teacher):
        np.testing.assert_allclose(level_maps.student, energy(s), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(level_maps.output, energy(o), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(level_maps.teacher, energy(t), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(energy(torch.full((1, 3, 2, 2), 2.0)), np.full((2, 2), 4.0))


def test_the_picture_changes_with_the_maps_and_only_with_them(model, tmp_path):
    level_maps = abf_maps(model, torch.randn(1, 3, 16, 16))[0]
    gradient = np.linspace(0, 1, level_maps.output.size).reshape(level_maps.output.shape)
    other = dataclasses.replace(level_maps, attention=np.stack([gradient, 1 - gradient]))
    pixels = []
    for name, maps in (('a', level_maps), ('again', level_maps), ('other', other)):
        save_level_figure(maps, 0, str(tmp_path / f'{name}.png'))
        pixels.append(np.asarray(Image.open(tmp_path / f'{name}.png').convert('RGB')))
    assert np.array_equal(pixels[0], pixels[1])
    assert not np.array_equal(pixels[0], pixels[2])
