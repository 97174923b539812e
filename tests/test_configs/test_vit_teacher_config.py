"""The DeiT-S -> ResNet18 ImageNet config trains a step with a narrow DeiT-S (the full one is built
by test_configs.py, marked slow): its recorders name real DeiT-S modules, and the teacher's
tokens reach the connector as maps on the patch grid of each input size."""
import copy
import math
from pathlib import Path

import torch
from mmengine.hub import get_config
from mmengine.optim import OptimWrapper
from mmengine.registry import MODELS, DefaultScope
from test_configs import load, random_batch

CONFIG = Path(__file__).parents[2] / 'configs' / 'imagenet' / 'reviewkd_deit-s_resnet18_in1k.py'


def narrow_teacher(teacher_config: str) -> dict:
    """DeiT-S's model with its 12 layers, 32 channels wide instead of 384."""
    model = copy.deepcopy(get_config(teacher_config).model)
    assert model.backbone.arch == 'deit-small'
    model.backbone.arch = dict(embed_dims=32, num_layers=12, num_heads=2,
                               feedforward_channels=64)
    model.head.in_channels = 32
    return model


def test_deit_teacher_config_trains_a_step():
    torch.manual_seed(0)
    cfg = load(CONFIG)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher = dict(config=narrow_teacher(cfg.model.teacher.config), checkpoint=None)
    model_cfg.data_preprocessor = cfg.data_preprocessor
    import mmpretrain.models  # noqa: F401
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(model_cfg)
    assert model.teacher.backbone.num_extra_tokens == 1
    connector = model.distiller.connector
    assert (list(connector.student_channels), list(connector.teacher_channels)) \
        == ([64, 128, 256, 512, 512], [32] * 5)
    model.train()
    log_vars = model.train_step(random_batch(64), OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.01)))
    assert math.isfinite(log_vars['loss']) and log_vars['loss_reviewkd'] > 0
    # at the nominal 224 px, the 14 x 14 grid of 16 px patches
    _, teacher = model.probe_features(torch.randn(1, 3, 224, 224))
    assert [tuple(f.shape) for f in teacher] == [(1, 32, 14, 14)] * 4 + [(1, 32, 1, 1)]
