"""The installed OpenMMLab stack works: compiled mmcv ops, each task package, rkd's scope."""
import pytest
import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import DefaultScope


def test_mmcv_compiled_ops_run_on_cpu():
    from mmcv.ops import nms, roi_align
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]])
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    features = torch.arange(16.).view(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    pooled = roi_align(features, rois, (2, 2), spatial_scale=1.0, sampling_ratio=1,
                       pool_mode='avg', aligned=False)
    assert pooled.shape == (1, 1, 2, 2)
    assert pooled.flatten().tolist() == pytest.approx([5.0, 7.0, 13.0, 15.0])


def test_mmpretrain_builds_after_register_all_modules():
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18),
                                  neck=dict(type='GlobalAveragePooling'),
                                  head=dict(type='LinearClsHead', num_classes=3,
                                            in_channels=512))).eval()
    assert model(torch.rand(1, 3, 32, 32), mode='tensor').shape == (1, 3)


def test_mmdet_builds_after_register_all_modules():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = get_config('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py')
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model).eval()
    features = model.extract_feat(torch.rand(1, 3, 64, 64))
    assert len(features) == 5  # the FPN levels P3-P7


def test_mmseg_builds_after_register_all_modules():
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = get_config('mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py')
    cfg.model.backbone.norm_cfg = cfg.model.decode_head.norm_cfg = dict(type='BN')
    cfg.model.auxiliary_head.norm_cfg = dict(type='BN')
    cfg.model.data_preprocessor.size = None
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model).eval()
    # tensor mode: the decode head's logits, at 1/8 of the input
    assert model(torch.rand(1, 3, 64, 64), mode='tensor').shape == (1, 19, 8, 8)


def test_rkd_scope_resolves_from_another_scopes_config(tmp_path):
    """A distillation config stays in its student's scope and names rkd's parts `rkd.X`."""
    from mmpretrain.registry import MODELS

    import rkd  # noqa: F401
    (tmp_path / 'cfg.py').write_text(
        "default_scope = 'mmpretrain'\n"
        "model = dict(type='rkd.HCLoss', loss_weight=2.0)\n")
    cfg = Config.fromfile(str(tmp_path / 'cfg.py'))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        loss = MODELS.build(cfg.model)
    assert type(loss).__module__.startswith('rkd.') and loss.loss_weight == 2.0
