"""End to end on a tiny COCO-format dataset: tools/train.py on the shipped COCO distillation
configs (thin networks swapped in), tools/test.py on the exported student with mmdet's
CocoMetric, and a strict load of the student into the plain mmdet detector."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from coco_data import CLASSES, write_coco
from tiny_detectors import tiny_detector
from tool_runs import run_tool

REPO = Path(__file__).parents[2]

pytestmark = pytest.mark.slow


def data_settings(root: Path, with_mask: bool) -> dict:
    """Train, val and test on the tiny set at 96-128 px, in mmdet's terms."""
    annotations = dict(type='LoadAnnotations', with_bbox=True, with_mask=with_mask,
                       poly2mask=False)
    train_pipeline = [
        dict(type='LoadImageFromFile'), annotations,
        dict(type='RandomChoiceResize', scales=[(128, 96), (128, 128)], keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs')
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(128, 128), keep_ratio=True), annotations,
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
    ]
    dataset = dict(data_root=str(root), ann_file='annotations.json',
                   data_prefix=dict(img='images/'), metainfo=dict(classes=CLASSES))
    loader = dict(num_workers=0, persistent_workers=False, pin_memory=False)
    test_loader = dict(loader, batch_size=2, dataset=dict(dataset, pipeline=test_pipeline))
    evaluator = dict(ann_file=str(root / 'annotations.json'))
    return dict(
        train_dataloader=dict(loader, batch_size=2,
                              dataset=dict(dataset, pipeline=train_pipeline)),
        test_dataloader=test_loader, test_evaluator=evaluator)


def scored_everywhere(detector) -> None:
    """Keep every detection of a barely trained detector, so the metric has some to score."""
    test_cfg = detector.test_cfg.get('rcnn', detector.test_cfg)
    test_cfg.update(score_thr=0.0, max_per_img=20)


def student_and_teacher(student_kind: str, teacher_kind: str):
    student = tiny_detector(student_kind, width=8, channels=16)
    if 'rpn_proposal' in student.train_cfg:
        student.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=64)
        student.train_cfg.rcnn.sampler.num = 64
    scored_everywhere(student)
    return student, tiny_detector(teacher_kind, width=16, channels=32)


@pytest.mark.parametrize('shipped,student_kind,teacher_kind,metrics', [
    ('reviewkd_mask-rcnn_r101_r18_fpn_ms-180k_coco', 'mask_rcnn', 'mask_rcnn', ('bbox', 'segm')),
    # FCOS's config normalises caffe-style: the teacher's inputs are re-normalised
    ('reviewkd_retinanet_r101_r50_fpn_ms-180k_coco', 'retinanet', 'fcos', ('bbox', )),
])
def test_train_test_export_on_tiny_coco(tmp_path, shipped, student_kind, teacher_kind, metrics):
    import mmdet.models  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.runner import save_checkpoint

    from rkd.apis import load_student
    from rkd.checkpoint import safe_torch_load

    write_coco(tmp_path / 'coco')
    data = data_settings(tmp_path / 'coco', with_mask='segm' in metrics)
    student, teacher = student_and_teacher(student_kind, teacher_kind)
    with DefaultScope.overwrite_default_scope('mmdet'):
        teacher_model = MODELS.build(teacher)
    save_checkpoint(dict(state_dict=teacher_model.state_dict()), str(tmp_path / 'teacher.pth'))

    # the shipped config with thin networks and the tiny data: 4 iterations, then the export
    distill = Config(dict(
        _base_=[str(REPO / 'configs' / 'coco' / f'{shipped}.py')],
        model=dict(student=dict(student, _delete_=True),
                   teacher=dict(_delete_=True, config=teacher,
                                checkpoint=str(tmp_path / 'teacher.pth')),
                   distiller=dict(connector=dict(mid_channels=16))),
        train_cfg=dict(max_iters=4),
        val_cfg=None, val_dataloader=None, val_evaluator=None,  # tools/test.py evaluates
        default_hooks=dict(checkpoint=dict(interval=4), logger=dict(interval=1)),
        **data))
    distill.dump(str(tmp_path / 'distill.py'))
    work_dir = tmp_path / 'work'
    log = run_tool('train.py', str(tmp_path / 'distill.py'), '--work-dir', str(work_dir))
    losses = [float(v) for v in re.findall(r'loss_reviewkd: ([0-9.]+)', log)]
    assert len(losses) == 4 and all(v > 0 for v in losses), log[-2000:]
    assert (work_dir / 'iter_4.pth').exists() and (work_dir / 'student.pth').exists()

    # the exported student alone, with the student's own shipped config and mmdet's CocoMetric
    student_base = '_'.join(shipped.split('_')[i] for i in (1, 3)) + '_fpn_ms-180k_coco.py'
    alone = Config(dict(_base_=[str(REPO / 'configs' / 'coco' / student_base)],
                        model=dict(student, _delete_=True),
                        val_cfg=None, val_dataloader=None, val_evaluator=None, **data))
    alone.dump(str(tmp_path / 'student.py'))
    log = run_tool('test.py', str(tmp_path / 'student.py'), str(work_dir / 'student.pth'),
                   '--work-dir', str(tmp_path / 'test'))
    for metric in metrics:
        found = re.search(rf'coco/{metric}_mAP: (-?[0-9.]+)', log)
        assert found and 0 <= float(found.group(1)) <= 1, f'no {metric} mAP in:\n{log[-2000:]}'

    # the student-only checkpoint loads strictly into the plain mmdet detector
    with DefaultScope.overwrite_default_scope('mmdet'):
        plain = MODELS.build(student)
    load_student(plain, str(work_dir / 'student.pth'))
    trained = safe_torch_load(str(work_dir / 'iter_4.pth'), map_location='cpu')['state_dict']
    torch.testing.assert_close(plain.state_dict()['neck.fpn_convs.0.conv.weight'],
                               trained['student.neck.fpn_convs.0.conv.weight'])
