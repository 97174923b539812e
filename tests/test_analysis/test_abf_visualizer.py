"""visualize_abf.py on a trained tiny checkpoint: one picture a level, with every panel."""
import runpy
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import write_config, write_image_folder

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
