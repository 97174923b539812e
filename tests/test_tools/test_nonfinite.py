"""tools/train.py on bad numbers: a NaN teacher weight, a preprocessor std of 0. The run exits
non-zero with rkd's message, and the checkpoints and student of an earlier good run in the same
work dir are left byte for byte."""
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from helpers import reviewkd_algorithm, tiny_classifier, write_image_folder

REPO = Path(__file__).parents[2]

pytestmark = pytest.mark.slow  # three runs of tools/train.py


def write_config(path: Path, data_root: Path, teacher: Path, max_iters: int,
                 std: float = 127.5) -> None:
    model = reviewkd_algorithm(teacher_checkpoint=str(teacher))
    model['student']['data_preprocessor']['std'] = [std] * 3  # the teacher shares it
    dataset = dict(type='CustomDataset', data_root=str(data_root),
                   pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    Config(dict(
        default_scope='mmpretrain',
        custom_imports=dict(imports=['rkd'], allow_failed_imports=False),
        model=model,
        train_dataloader=dict(batch_size=4, num_workers=0, dataset=dataset,
                              sampler=dict(type='DefaultSampler', shuffle=True)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='rkd.NonFiniteGuardHook'), dict(type='rkd.StudentExportHook')],
    )).dump(str(path))


def train(config: Path, work_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'train.py'), str(config), '--work-dir',
         str(work_dir), *args], cwd=REPO, timeout=300, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)


def digests(work_dir: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(work_dir.glob('*.pth'))}


def test_non_finite_runs_stop_and_leave_the_good_files(tmp_path):
    import mmpretrain.models  # noqa: F401
    from mmengine.runner import save_checkpoint
    from mmpretrain.registry import MODELS

    write_image_folder(tmp_path / 'data', per_class=2)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        teacher = MODELS.build(tiny_classifier(base_channels=8))
    save_checkpoint(dict(state_dict=teacher.state_dict()), str(tmp_path / 'teacher.pth'))
    with torch.no_grad():
        teacher.backbone.conv1.weight[0, 0, 0, 0] = float('nan')
    save_checkpoint(dict(state_dict=teacher.state_dict()), str(tmp_path / 'nan_teacher.pth'))
    work = tmp_path / 'work'

    good = tmp_path / 'good.py'
    write_config(good, tmp_path / 'data', tmp_path / 'teacher.pth', max_iters=2)
    assert train(good, work).returncode == 0
    files = digests(work)
    assert set(files) == {'iter_1.pth', 'iter_2.pth', 'student.pth'}

    # a NaN in the teacher's checkpoint: refused before the first step
    nan_teacher = tmp_path / 'nan_teacher.py'
    write_config(nan_teacher, tmp_path / 'data', tmp_path / 'nan_teacher.pth', max_iters=4)
    run = train(nan_teacher, work, '--resume')
    assert run.returncode == 1, run.stdout[-3000:]
    assert 'rkd: The teacher has non-finite weights (1 of ' in run.stdout
    assert 'backbone.conv1.weight) before training: check its checkpoint ' \
        f'{tmp_path / "nan_teacher.pth"}. Training did not start.' in run.stdout
    assert 'Traceback' not in run.stdout
    assert digests(work) == files

    # std 0: the inputs, both losses and the features become NaN at the first new step
    zero_std = tmp_path / 'zero_std.py'
    write_config(zero_std, tmp_path / 'data', tmp_path / 'teacher.pth', max_iters=4, std=0.0)
    run = train(zero_std, work, '--resume')
    assert run.returncode == 1, run.stdout[-3000:]
    assert ("rkd: Non-finite loss at iteration 3: loss_student = nan (the student's task loss); "
            'loss_reviewkd = nan (the ReviewKD loss; teacher feature non-finite at level(s) '
            '[0, 1, 2, 3, 4] of 5, student feature non-finite at level(s) [0, 1, 2, 3, 4] of '
            '5); the inputs are already non-finite after the data preprocessor. Training '
            'stopped before the optimizer step.') in run.stdout
    assert 'Traceback' not in run.stdout
    assert digests(work) == files
    student = torch.load(work / 'student.pth', map_location='cpu', weights_only=False)
    assert all(torch.isfinite(v).all() for v in student['state_dict'].values()
               if v.is_floating_point())
