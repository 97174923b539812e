"""Every shipped COCO config loads, builds in mmdet's scope and trains one step on a tiny batch.

No weights are loaded (nothing can be downloaded): students keep their random initialisation
and teachers their random weights; for speed, ResNet101 teachers are built at depth 50 (the same
channels) and two-stage students train their RoI heads on fewer proposals. The teacher of each
pair is checked against mmdet's own metafile instead.
"""
import copy
import math
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.optim import OptimWrapper
from mmengine.utils import import_modules_from_strings

from rkd.apis import build_distillation
from rkd.models.algorithms.synthetic_batch import synthetic_samples

REPO = Path(__file__).parents[2]
CONFIGS = sorted((REPO / 'configs' / 'coco').glob('*.py'))
DISTILL = [p for p in CONFIGS if p.stem.startswith('reviewkd_')]

# The paper's pairs (Table 5) and their HCL loss weights.
LOSS_WEIGHTS = {
    'reviewkd_faster-rcnn_r101_r18_fpn_ms-180k_coco': 1.2,
    'reviewkd_faster-rcnn_r101_r50_fpn_ms-180k_coco': 1.0,
    'reviewkd_faster-rcnn_r50_mobilenetv2_fpn_ms-180k_coco': 2.0,
    'reviewkd_mask-rcnn_r101_r18_fpn_ms-180k_coco': 1.5,
    'reviewkd_mask-rcnn_r101_r50_fpn_ms-180k_coco': 0.8,
    'reviewkd_mask-rcnn_r50_mobilenetv2_fpn_ms-180k_coco': 1.0,
    'reviewkd_retinanet_r101_r50_fpn_ms-180k_coco': 1.0,
}
STUDENT_WEIGHTS = {'r18': 'torchvision://resnet18', 'r50': 'torchvision://resnet50',
                   'mobilenetv2': 'open-mmlab://mmdet/mobilenet_v2'}
MMDET_CONFIGS = Path(__import__('mmdet').__file__).parent / '.mim' / 'configs'


def load(path: Path) -> Config:
    cfg = Config.fromfile(str(path))
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    return cfg


def light(detector):
    """Nothing to download, and a two-stage detector's RoI heads on 64 proposals instead of
    1000 (the cost of a CPU step at test size is all there)."""
    detector.backbone.init_cfg = None
    if 'rpn_proposal' in detector.get('train_cfg', {}):
        detector.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=64)
        detector.train_cfg.rcnn.sampler.num = 64


def offline(model_cfg):
    """The model dict with :func:`light` students, no teacher checkpoint and a ResNet101
    teacher (from its mmdet config, preprocessor included) at depth 50."""
    model_cfg = copy.deepcopy(model_cfg)
    if 'teacher' not in model_cfg:
        light(model_cfg)
        return model_cfg
    light(model_cfg.student)
    teacher = get_config(model_cfg.teacher.config).model
    if teacher.backbone.get('depth') == 101:
        teacher.backbone.depth = 50
    model_cfg.teacher = dict(config=teacher, checkpoint=None)
    return model_cfg


def raw_batch(model, size=(64, 64), n=2) -> dict:
    images = [torch.randint(0, 256, (3, *size), dtype=torch.uint8) for _ in range(n)]
    return dict(inputs=images, data_samples=synthetic_samples(model, n, size))


# Slow (still run in CI; the marker is for selection): 4-13 s each on a busy 2-core machine,
# ResNet50-size networks at full width.
@pytest.mark.slow
@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_builds_and_trains_one_step(path):
    import mmdet.models  # noqa: F401
    torch.manual_seed(0)
    cfg = load(path)
    assert cfg.default_scope == 'mmdet'
    model = build_distillation(cfg, offline(cfg.model))  # as the Runner builds it
    model.init_weights()
    model.train()
    student = model.student if path in DISTILL else model
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    log_vars = model.train_step(raw_batch(student), optim)
    assert math.isfinite(log_vars['loss'])
    assert any(key.startswith('loss_cls') for key in log_vars)
    if path in DISTILL:
        assert math.isfinite(log_vars['loss_reviewkd']) and log_vars['loss_reviewkd'] > 0
        connector = model.distiller.connector
        assert list(connector.student_channels) == list(connector.teacher_channels) == [256] * 5
        assert all(abf.conv1.conv.out_channels == 256 for abf in connector.abfs)
        # a caffe-style teacher (BGR, std 1) gets its own normalisation, the others the batch
        caffe = get_config(cfg.model.teacher.config).model.backbone.get('style') == 'caffe'
        assert (model.teacher_renormalizer is not None) == caffe


@pytest.mark.parametrize('path', DISTILL, ids=lambda p: p.stem)
def test_pair_weights_and_checkpoints_are_the_papers_and_mmdets(path):
    cfg = load(path)
    model = cfg.model
    assert model.distiller.loss.loss_weight == LOSS_WEIGHTS[path.stem]
    assert model.distiller.student_recorders == model.distiller.teacher_recorders == ['neck']
    assert model.distiller.connector.mid_channels == 256
    assert model.get('distiller').get('warmup') is None
    # the teacher: an mmdet model-zoo entry, named as mmdet's metafile names its config
    family, teacher_depth, student_net = path.stem.split('_')[1:4]
    teacher_config = model.teacher.config
    assert teacher_config.startswith('mmdet::') and f'_{teacher_depth}' in teacher_config
    relative = teacher_config[len('mmdet::'):]
    assert (MMDET_CONFIGS / relative).is_file()
    metafile = yaml.safe_load((MMDET_CONFIGS / relative).parent.joinpath('metafile.yml')
                              .read_text())
    weights = {m['Config']: m['Weights'] for m in metafile['Models'] if 'Weights' in m}
    assert weights[f'configs/{relative}'] == model.teacher.checkpoint
    assert '3x' in relative, 'multi-scale 3x teachers, as the paper\'s'
    # the student starts from ImageNet weights and is the family's own detector
    assert model.student.type == {'faster-rcnn': 'FasterRCNN', 'mask-rcnn': 'MaskRCNN',
                                  'retinanet': 'RetinaNet'}[family]
    assert model.student.backbone.init_cfg.checkpoint == STUDENT_WEIGHTS[student_net]


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_schedule_is_the_papers_in_mmdets_terms(path):
    cfg = load(path)
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == 180000
    step = cfg.param_scheduler[-1]
    assert (step.type, step.by_epoch, step.milestones) == ('MultiStepLR', False,
                                                           [120000, 160000])
    retinanet = 'retinanet' in path.stem
    assert cfg.optim_wrapper.optimizer.lr == (0.005 if retinanet else 0.01)
    assert cfg.train_dataloader.batch_size * 4 == cfg.auto_scale_lr.base_batch_size == 8
    resize = next(t for t in cfg.train_dataloader.dataset.pipeline
                  if t.type == 'RandomChoiceResize')
    assert [h for _, h in resize.scales] == list(range(640, 801, 32))
    instance = 'mask-rcnn' in path.stem
    assert ('segm' in cfg.val_evaluator.metric) == instance


def test_every_pair_of_the_paper_ships():
    assert {p.stem for p in DISTILL} == set(LOSS_WEIGHTS)
    for path in DISTILL:  # each student also ships alone: the baseline of its pair
        student = '_'.join(path.stem.split('_')[i] for i in (1, 3))
        assert (path.parent / f'{student}_fpn_ms-180k_coco.py').is_file()
