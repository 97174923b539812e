"""Every shipped segmentation config loads, builds in mmseg's scope and trains one step, with the
recipe it states (the student's mmseg schedule, the teacher named as mmseg's metafile names it).

Built without downloads: no teacher checkpoint, no ImageNet initialisation of the student, and the
preprocessor pads to 64 px instead of the 512x1024 crop. Networks keep their real depth, so the
recorded module names and channels are those of the real pairs.
"""
import copy
import math
from pathlib import Path

import mmseg
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import load as load_file
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import OptimWrapper
from mmengine.registry import MODELS, DefaultScope
from mmengine.utils import import_modules_from_strings

REPO = Path(__file__).parents[2]
CITYSCAPES = sorted((REPO / 'configs' / 'cityscapes').glob('reviewkd_*.py'))
ADE20K = sorted((REPO / 'configs' / 'ade20k').glob('reviewkd_*.py'))
CONFIGS = CITYSCAPES + ADE20K
MMSEG_CONFIGS = Path(mmseg.__file__).parent / '.mim' / 'configs'
SIZE = 64
PSPNET = 'reviewkd_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024'

R18_D8 = [64, 128, 256, 512]
R101_D8 = [256, 512, 1024, 2048]
# (student channels, teacher channels, stride of each level) of every pair, shallow -> deep:
# the four backbone stages, then (CNN pairs) the map the head's classifier reads.
PAIRS = {
    'reviewkd_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024':
    (R18_D8 + [128], R101_D8 + [512], [4, 8, 8, 8, 8]),
    'reviewkd_deeplabv3_r101-d8_deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024':
    (R18_D8 + [128], R101_D8 + [512], [4, 8, 8, 8, 8]),
    'reviewkd_deeplabv3plus_r101-d8_deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024':
    (R18_D8 + [128], R101_D8 + [512], [4, 8, 8, 8, 4]),
    'reviewkd_deeplabv3_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024':
    (R18_D8 + [128], R101_D8 + [512], [4, 8, 8, 8, 8]),
    'reviewkd_segformer_mit-b4_segformer_mit-b0_8xb2-160k_ade20k-512x512':
    ([32, 64, 160, 256], [64, 128, 320, 512], [4, 8, 16, 32]),
}
# The student's mmseg config each distillation builds on, and the teacher's.
BASES = {
    'reviewkd_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024':
    ('pspnet_r18-d8_4xb2-80k_cityscapes-512x1024', 'pspnet_r101-d8_4xb2-80k_cityscapes-512x1024'),
    'reviewkd_deeplabv3_r101-d8_deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024':
    ('deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024',
     'deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024'),
    'reviewkd_deeplabv3plus_r101-d8_deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024':
    ('deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024',
     'deeplabv3plus_r101-d8_4xb2-80k_cityscapes-512x1024'),
    'reviewkd_deeplabv3_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024':
    ('pspnet_r18-d8_4xb2-80k_cityscapes-512x1024',
     'deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024'),
    'reviewkd_segformer_mit-b4_segformer_mit-b0_8xb2-160k_ade20k-512x512':
    ('segformer_mit-b0_8xb2-160k_ade20k-512x512', 'segformer_mit-b4_8xb2-160k_ade20k-512x512'),
}


def load(path: Path) -> Config:
    cfg = Config.fromfile(str(path))
    import_modules_from_strings(**cfg.custom_imports)
    return cfg


def build(cfg: Config):
    """The model as the Runner builds it on one process (top-level preprocessor merged, SyncBN
    reverted), without downloads and padding to ``SIZE``."""
    import mmseg.models  # noqa: F401
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher.checkpoint = None
    student = model_cfg.student
    student.pretrained = None
    student.backbone.init_cfg = None
    student.data_preprocessor.size = (SIZE, SIZE)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(model_cfg)
    model = revert_sync_batchnorm(model)
    model.init_weights()
    return model


def random_batch(num_classes: int) -> dict:
    """Two images of other sizes than ``SIZE``: the preprocessor pads them (and their maps)
    into one batch, which both networks take."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    inputs, samples = [], []
    for h, w in ((SIZE - 8, SIZE), (SIZE, SIZE - 16)):
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=torch.randint(num_classes, (1, h, w)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_builds_and_trains_one_step(path, at_repo_root):
    torch.manual_seed(0)
    cfg = load(path)
    model = build(cfg)
    student_channels, teacher_channels, strides = PAIRS[path.stem]
    connector = model.distiller.connector
    assert len(connector.abfs) == len(strides), 'one ABF per level'
    assert (list(connector.student_channels), list(connector.teacher_channels)) \
        == (student_channels, teacher_channels)

    # mmseg's teachers normalise as their students: the teacher takes the batch as it is.
    assert model.teacher_renormalizer is None
    # Both networks see the same spatial batch: level by level the maps agree in size, at the
    # stride the backbone and head give them (several d8 levels share one size).
    student_feats, teacher_feats = model.probe_features(torch.randn(2, 3, SIZE, SIZE))
    sizes = [tuple(f.shape[-2:]) for f in student_feats]
    assert sizes == [tuple(f.shape[-2:]) for f in teacher_feats]
    assert sizes == [(SIZE // s, SIZE // s) for s in strides]
    if 'segformer' not in path.stem:
        # A randomly initialised teacher's features take both signs when recorded before
        # their ReLU, as ReviewKD takes them.
        assert all(f.min() < 0 for f in teacher_feats), 'teacher features pre-activation'

    model.train()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    seen = {}
    hooks = [net.backbone.register_forward_pre_hook(
        lambda module, args, name=name: seen.setdefault(name, args[0].clone()))
        for name, net in (('student', model.student), ('teacher', model.teacher))]
    try:
        log_vars = model.train_step(random_batch(model.student.decode_head.num_classes), optim)
    finally:
        for hook in hooks:
            hook.remove()
    assert seen['student'].shape == (2, 3, SIZE, SIZE), 'padded into one batch'
    torch.testing.assert_close(seen['teacher'], seen['student'], rtol=0, atol=0)
    assert math.isfinite(log_vars['loss'])
    assert math.isfinite(log_vars['loss_reviewkd']) and log_vars['loss_reviewkd'] > 0


def test_equal_sized_levels_fuse_alike_in_both_forms(at_repo_root):
    """Dilated backbones keep 1/8 resolution, so the chain fuses levels of one size without any
    resize: the fast form (recomputing, in training) matches the reference on those features."""
    model = build(load(REPO / 'configs' / 'cityscapes' / f'{PSPNET}.py'))
    student_feats, teacher_feats = model.probe_features(torch.randn(2, 3, SIZE, SIZE))
    assert len({tuple(f.shape[-2:]) for f in student_feats}) < len(student_feats)
    sizes = [f.shape[-2:] for f in teacher_feats]
    fast = model.distiller.connector.train()
    reference = copy.deepcopy(fast)
    reference.impl = 'reference'
    results = []
    for connector in (fast, reference):
        feats = [f.clone().requires_grad_() for f in student_feats]
        outs = connector(feats, sizes)
        torch.manual_seed(0)
        loss = sum((out * torch.randn(out.shape)).sum() for out in outs)
        loss.backward()
        results.append(([o.detach() for o in outs], [f.grad for f in feats]))
    for got, want in zip(*results):  # outputs, then input gradients: float32 rounding apart
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=0, atol=1e-5 * float(w.abs().max()))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_recipe_and_teacher(path, tmp_path):
    """The student's own mmseg recipe, the teacher from mmseg's model zoo under its metafile
    name, no warm-up, the documented loss weight and the student-only export."""
    cfg = load(path)
    student_base, teacher_base = BASES[path.stem]
    # the student's config read as the distillation reads it, as an ``mmseg::`` base
    student_family = student_base.split('_')[0]
    (tmp_path / 'student.py').write_text(
        f"_base_ = ['mmseg::{student_family}/{student_base}.py']\n")
    student_cfg = Config.fromfile(str(tmp_path / 'student.py'))
    assert cfg.train_cfg == student_cfg.train_cfg
    assert cfg.optim_wrapper == student_cfg.optim_wrapper
    assert cfg.param_scheduler == student_cfg.param_scheduler
    assert cfg.train_dataloader == student_cfg.train_dataloader
    assert cfg.model.student == student_cfg.model
    if path in CITYSCAPES:
        assert cfg.model.student.data_preprocessor.size == (512, 1024)
        assert cfg.train_cfg.max_iters == 80000 and cfg.train_dataloader.batch_size == 2
        assert cfg.optim_wrapper.optimizer.type == 'SGD' and cfg.optim_wrapper.optimizer.lr == 0.01
    else:
        assert cfg.model.student.data_preprocessor.size == (512, 512)
        assert cfg.train_cfg.max_iters == 160000
    teacher = cfg.model.teacher
    family = teacher_base.split('_')[0]
    assert teacher.config == f'mmseg::{family}/{teacher_base}.py'
    metafile = load_file(str(MMSEG_CONFIGS / family / 'metafile.yaml'))
    zoo = {model['Name']: model['Weights'] for model in metafile['Models']}
    assert teacher.checkpoint == zoo[teacher_base]
    distiller = cfg.model.distiller
    assert distiller.get('warmup') is None
    assert distiller.loss.loss_weight == 1.0


def test_every_pair_has_a_config():
    assert {p.stem for p in CONFIGS} == set(PAIRS) == set(BASES)
