"""End to end: tools/train.py on a distillation config, --resume, export, strict load, predict."""

import pytest
import torch
from mmengine.fileio import load
from mmengine.registry import DefaultScope

from helpers import tiny_classifier, write_config, write_image_folder
from tool_runs import run_tool

pytestmark = pytest.mark.slow


def test_train_resume_test_export_and_strict_load(tmp_path):
    import mmpretrain.models  # noqa: F401
    from mmengine.runner import save_checkpoint
    from mmpretrain.registry import MODELS

    write_image_folder(tmp_path / 'data')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        teacher = MODELS.build(tiny_classifier(base_channels=8))
    save_checkpoint(dict(state_dict=teacher.state_dict()), str(tmp_path / 'teacher.pth'))
    work_dir = tmp_path / 'work'

    write_config(tmp_path / 'distill.py', tmp_path / 'data', str(tmp_path / 'teacher.pth'), 2)
    run_tool('train.py', str(tmp_path / 'distill.py'), '--work-dir', str(work_dir))
    assert (work_dir / 'iter_2.pth').exists() and (work_dir / 'student.pth').exists()

    # --resume goes through torch.load(weights_only=True) on mmengine's message hub
    write_config(tmp_path / 'distill.py', tmp_path / 'data', str(tmp_path / 'teacher.pth'), 3)
    run_tool('train.py', str(tmp_path / 'distill.py'), '--work-dir', str(work_dir), '--resume')
    assert (work_dir / 'iter_3.pth').exists()

    # the task's own test loop and metric run on the distillation checkpoint (student alone)
    run_tool('test.py', str(tmp_path / 'distill.py'), str(work_dir / 'iter_3.pth'),
             '--work-dir', str(tmp_path / 'test'), '--out', str(tmp_path / 'preds.pkl'))
    predictions = load(str(tmp_path / 'preds.pkl'))
    assert len(predictions) == 16 and predictions[0]['pred_score'].shape == (4, )

    run_tool('export_student.py', str(work_dir / 'iter_3.pth'), str(tmp_path / 'student.pth'))
    from rkd.apis import load_student
    from rkd.checkpoint import safe_torch_load
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        student = MODELS.build(tiny_classifier(base_channels=4)).eval()
    load_student(student, str(tmp_path / 'student.pth'))
    trained = safe_torch_load(str(work_dir / 'iter_3.pth'), map_location='cpu')['state_dict']
    torch.testing.assert_close(student.state_dict()['head.fc.weight'],
                               trained['student.head.fc.weight'])
    scores = student(torch.randn(2, 3, 16, 16), mode='tensor')
    assert scores.shape == (2, 4) and torch.isfinite(scores).all()
