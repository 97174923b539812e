"""``build_distillation`` and the benchmark build the model ``tools/train.py``'s Runner builds."""
from pathlib import Path

import pytest
from mmengine.runner import Runner

from rkd.analysis.benchmark import build_algorithm
from rkd.apis import build_distillation, load_config
from rkd.utils import register_all_modules

CONFIGS = Path(__file__).parents[2] / 'configs'


def layout(model) -> tuple:
    """What tells two builds apart: every module's name and type (SyncBN or BN too), and the
    preprocessor's buffers (mean and std where it normalises)."""
    buffers = {k: v.tolist() for k, v in model.data_preprocessor.state_dict().items()}
    return [(name, type(m).__name__) for name, m in model.named_modules()], buffers


@pytest.mark.parametrize('config', [
    'digits/reviewkd_resnet32_resnet8_digits.py',  # a top-level data_preprocessor
    'coco/reviewkd_retinanet_r101_r50_fpn_ms-180k_coco.py',
    'ade20k/reviewkd_segformer_mit-b4_segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
])
def test_tools_build_the_runners_model(config, tmp_path):
    register_all_modules(init_default_scope=False)
    cfg = load_config(str(CONFIGS / config), work_dir=str(tmp_path))
    cfg.model.teacher.checkpoint = None
    cfg.model.distiller.connector.impl = cfg.model.distiller.loss.impl = 'reference'
    runner_model = Runner.from_cfg(cfg.copy()).model

    assert layout(build_distillation(cfg)) == layout(runner_model)
    assert layout(build_algorithm(cfg, 'reference', 'cpu')) == layout(runner_model)
    if 'data_preprocessor' in cfg:
        mean = runner_model.data_preprocessor.mean.flatten().tolist()
        assert mean == pytest.approx(cfg.data_preprocessor.mean)
