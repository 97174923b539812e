"""The paper configs distill what the official ReviewKD code distilled.

ImageNet: the official ResNets hand HCL their post-ReLU stage outputs (an in-place ReLU overwrites
the pre-activation they mean to return); the MobileNetV1 student's features are pre-activation.
CIFAR-100: the official teacher normalises with batch statistics. Random weights, no checkpoints.
"""
import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.utils import import_modules_from_strings

from rkd.apis import build_distillation

from helpers import randomise_bn_scales

REPO = Path(__file__).parents[2]
IMAGENET = REPO / 'configs' / 'imagenet'
# config -> (student depth or None for the MobileNetV1, teacher depth)
OFFICIAL = {
    'reviewkd_resnet34_resnet18_in1k': (18, 34),
    'reviewkd_resnet50_mobilenetv1_in1k': (None, 50),
}
PREACT_VARIANTS = {
    'reviewkd_resnet34_resnet18_preact_in1k': (18, 34),
    'reviewkd_resnet50_mobilenetv1_preact_in1k': (None, 50),
}

pytestmark = pytest.mark.slow  # ImageNet networks: about 2 s a config on one thread


def load(path: Path) -> Config:
    cfg = Config.fromfile(str(path))
    import_modules_from_strings(**cfg.custom_imports)
    return cfg


def build(cfg: Config):
    """The model as the Runner builds it, with no teacher checkpoint and its BN unfolded: the
    recorded features are compared bit for bit with the networks' own (the folded forward
    equals the unfolded one to float rounding: test_folded_bn.py)."""
    import mmpretrain.models  # noqa: F401
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher.checkpoint = None
    model_cfg.teacher.fold_bn = False
    return build_distillation(cfg, model_cfg)


def stage_outputs(network, depth: int, inputs: torch.Tensor) -> tuple:
    """The four stage outputs of ``network``'s ResNet backbone, from a copy of it that returns
    them all (mmpretrain's ``out_indices``), and the pooled last one as a 1x1 map."""
    from mmpretrain.models import ResNet
    backbone = ResNet(depth=depth, out_indices=(0, 1, 2, 3))
    backbone.load_state_dict(network.backbone.state_dict())
    backbone.eval()  # as the probe runs BatchNorm
    with torch.no_grad():
        stages = backbone(inputs)
    return stages, F.adaptive_avg_pool2d(stages[-1], 1)


def recorded(name: str, depths: dict, inputs: torch.Tensor) -> tuple:
    """The config's student features as a training step records them, and (network, depth,
    recorded features) of each of its ResNets: the teacher, and the student unless its depth is
    None (the MobileNetV1)."""
    cfg = load(IMAGENET / f'{name}.py')
    model = build(cfg)
    torch.manual_seed(0)
    randomise_bn_scales(model)
    student_feats, teacher_feats = model.probe_features(inputs)
    student_depth, teacher_depth = depths[name]
    resnets = [(model.teacher, teacher_depth, teacher_feats)]
    if student_depth is not None:
        resnets.append((model.student, student_depth, student_feats))
    return student_feats, resnets


@pytest.mark.parametrize('name', OFFICIAL)
def test_imagenet_resnets_record_post_relu_stage_outputs(name):
    inputs = torch.randn(2, 3, 64, 64)
    student_feats, resnets = recorded(name, OFFICIAL, inputs)
    for network, depth, feats in resnets:
        stages, embedding = stage_outputs(network, depth, inputs)
        assert len(feats) == 5
        for feat, stage in zip(feats[:4], stages):
            assert feat.min() >= 0 and (feat == 0).any(), 'post-ReLU: non-negative, some zeros'
            torch.testing.assert_close(feat, stage, rtol=0, atol=0)
        torch.testing.assert_close(feats[4], embedding)
    if OFFICIAL[name][0] is None:
        # the MobileNetV1 student stays pre-activation, as the official one
        assert all(f.min() < 0 for f in student_feats[:4])


@pytest.mark.parametrize('name', PREACT_VARIANTS)
def test_preact_variants_record_the_input_of_the_last_relu(name):
    inputs = torch.randn(2, 3, 64, 64)
    _, resnets = recorded(name, PREACT_VARIANTS, inputs)
    for network, depth, feats in resnets:
        stages, _ = stage_outputs(network, depth, inputs)
        for feat, stage in zip(feats[:4], stages):
            assert feat.min() < 0, 'pre-activation takes both signs'
            torch.testing.assert_close(feat.relu(), stage, rtol=0, atol=0)
    # everything else is the official config's
    cfg = load(IMAGENET / f'{name}.py')
    base = load(IMAGENET / f'{name.replace("_preact", "")}.py')
    for key in ('teacher', 'student', 'probe_input_shape'):
        assert cfg.model[key] == base.model[key]
    for key in ('connector', 'loss', 'type'):
        assert cfg.model.distiller[key] == base.model.distiller[key]


def test_cifar100_paper_teachers_normalise_with_batch_statistics():
    distill = sorted((REPO / 'configs' / 'cifar100').glob('reviewkd_*.py'))
    assert len(distill) == 12  # the paper's 11 pairs and the logit-KD variant
    for path in distill:
        assert load(path).model.teacher.bn_mode == 'batch_stats', path.stem
    # elsewhere the teacher keeps rkd's default: eval mode
    others = sorted(IMAGENET.glob('reviewkd_*.py')) + [
        REPO / 'configs' / 'digits' / 'reviewkd_resnet32_resnet8_digits.py']
    for path in others:
        assert load(path).model.teacher.get('bn_mode', 'eval') == 'eval', path.stem
