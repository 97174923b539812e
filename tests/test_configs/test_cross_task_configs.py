"""The cross-task configs (configs/cross_task): an ImageNet ConvNeXt-T classifier's backbone
teaches a COCO detector and an ADE20K segmentor. Each loads, builds in its student's scope and
trains one step with a one-block-a-stage ConvNeXt-T (its real channels and module names); its
recorder lists are the pairing 'auto' finds; its teacher is mmpretrain's model-zoo classifier."""
import copy
import math
from pathlib import Path

import mmpretrain
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import load as load_file
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import OptimWrapper
from mmengine.registry import MODELS, DefaultScope
from mmengine.utils import import_modules_from_strings
from test_coco_configs import light, raw_batch
from test_segmentation_configs import random_batch

from rkd.models.algorithms.feature_teacher import FeatureTeacher

REPO = Path(__file__).parents[2]
FOLDER = REPO / 'configs' / 'cross_task'
DETECTION = FOLDER / 'reviewkd_faster-rcnn_convnext-t-in1k_r18_fpn_ms-180k_coco.py'
SEGMENTATION = FOLDER / 'reviewkd_convnext-t-in1k_segformer_mit-b0_8xb2-160k_ade20k-512x512.py'
CONVNEXT_T = [96, 192, 384, 768]
# (student channels, teacher channels) per level, shallow -> deep, at strides 4, 8, 16, 32
CHANNELS = {DETECTION: ([256] * 4, CONVNEXT_T), SEGMENTATION: ([32, 64, 160, 256], CONVNEXT_T)}
SHALLOW_CONVNEXT_T = dict(depths=[1, 1, 1, 1], channels=CONVNEXT_T)
MMPRETRAIN_CONFIGS = Path(mmpretrain.__file__).parent / '.mim' / 'configs'


def load(path: Path) -> Config:
    cfg = Config.fromfile(str(path))
    import_modules_from_strings(**cfg.custom_imports)
    return cfg


def offline(model_cfg, **distiller):
    """The model dict without downloads (no checkpoint, no pretrained student), its ConvNeXt-T
    one block a stage."""
    model_cfg = copy.deepcopy(model_cfg)
    teacher = model_cfg.teacher
    teacher.checkpoint = None
    if teacher.get('headless'):
        teacher.overrides = dict(backbone=dict(arch=SHALLOW_CONVNEXT_T))
    else:
        teacher.backbone.arch = SHALLOW_CONVNEXT_T
    student = model_cfg.student
    if student.type == 'EncoderDecoder':
        student.pretrained = None
        student.data_preprocessor.size = (64, 64)
    else:
        light(student)
    student.backbone.init_cfg = None
    model_cfg.distiller.update(distiller)
    return model_cfg


def build(cfg: Config, **distiller):
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(offline(cfg.model, **distiller))
    model = revert_sync_batchnorm(model)
    model.init_weights()
    return model


@pytest.mark.parametrize('path', [DETECTION, SEGMENTATION], ids=lambda p: p.stem)
def test_config_builds_pairs_as_auto_and_trains_one_step(path, monkeypatch):
    monkeypatch.chdir(REPO)
    torch.manual_seed(0)
    cfg = load(path)
    model = build(cfg)
    assert isinstance(model.teacher, FeatureTeacher) and not hasattr(model.teacher, 'head')
    connector = model.distiller.connector
    assert (list(connector.student_channels), list(connector.teacher_channels)) \
        == CHANNELS[path]
    assert model.teacher_renormalizer is None, 'both normalise as ImageNet, in RGB'
    student_feats, teacher_feats = model.probe_features(torch.randn(2, 3, 64, 64))
    assert [f.shape[-2:] for f in student_feats] == [f.shape[-2:] for f in teacher_feats] \
        == [(64 // s, 64 // s) for s in (4, 8, 16, 32)]
    # the listed levels are those 'auto' pairs by stride
    auto = build(cfg, student_recorders='auto', teacher_recorders='auto').distiller
    for side in ('student_recorders', 'teacher_recorders'):
        assert [repr(r) for r in getattr(auto, side).recorders] \
            == [repr(r) for r in getattr(model.distiller, side).recorders]

    model.train()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    if path == DETECTION:
        batch = raw_batch(model.student)
    else:
        batch = random_batch(model.student.decode_head.num_classes)
    log_vars = model.train_step(batch, optim)
    assert math.isfinite(log_vars['loss'])
    assert math.isfinite(log_vars['loss_reviewkd']) and log_vars['loss_reviewkd'] > 0


@pytest.mark.parametrize('path', [DETECTION, SEGMENTATION], ids=lambda p: p.stem)
def test_teacher_is_mmpretrains_convnext_t(path):
    """The classification run the teacher comes from is mmpretrain's model-zoo ConvNeXt-T: its
    checkpoint as the metafile names it, its backbone as its config has it."""
    teacher = load(path).model.teacher
    metafile = load_file(str(MMPRETRAIN_CONFIGS / 'convnext' / 'metafile.yml'))
    zoo = {model['Name']: model for model in metafile['Models']}
    entry = zoo['convnext-tiny_32xb128_in1k']
    assert teacher.checkpoint == entry['Weights']
    run = Config.fromfile(str(MMPRETRAIN_CONFIGS.parent / entry['Config']))
    if 'config' in teacher:
        assert teacher.config == 'mmpretrain::convnext/convnext-tiny_32xb128_in1k.py'
        assert teacher.headless
    else:
        assert teacher.backbone == dict(type=f'mmpretrain.{run.model.backbone.type}',
                                        arch=run.model.backbone.arch)
        for key in ('mean', 'std', 'to_rgb'):
            assert teacher.data_preprocessor[key] == run.data_preprocessor[key]
