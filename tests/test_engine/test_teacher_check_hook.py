"""TeacherCheckHook: the teacher's validation metrics logged before training, without the val
hooks (a save_best checkpoint must not see them)."""
import uuid

import torch
from mmengine.runner import Runner
from test_non_finite_guard_hook import Images
from torch.utils.data import DataLoader

from rkd.engine.hooks import TeacherCheckHook

from helpers import reviewkd_algorithm


def collate(batch):
    return dict(inputs=[b['inputs'] for b in batch],
                data_samples=[b['data_samples'] for b in batch])


def loader():
    return DataLoader(Images(), batch_size=4, shuffle=False, collate_fn=collate)


def test_the_teachers_accuracy_is_logged_before_training(tmp_path):
    runner = Runner(
        model=reviewkd_algorithm(), work_dir=str(tmp_path),
        experiment_name=f'teacher_check_{uuid.uuid4().hex}', default_scope='mmpretrain',
        train_dataloader=loader(), val_dataloader=loader(),
        val_evaluator=dict(type='Accuracy'), val_cfg=dict(),
        train_cfg=dict(by_epoch=False, max_iters=1, val_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False,
                                           save_best='accuracy/top1', rule='greater')),
        custom_hooks=[TeacherCheckHook()])
    runner.train()
    metrics = runner.message_hub.get_info('teacher_metrics')
    # the same figure, computed by hand from the teacher's own predictions
    teacher, correct = runner.model.teacher, 0
    with torch.no_grad():
        for data in loader():
            for sample in teacher.val_step(data):
                correct += int(sample.pred_label == sample.gt_label)
    assert metrics['accuracy/top1'] == 100 * correct / len(Images())
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert f'teacher/accuracy/top1: {metrics["accuracy/top1"]:.4f}' in log
    # save_best saw the student's validation only: one best checkpoint, of iteration 1
    assert [p.name for p in tmp_path.glob('best_*.pth')] == ['best_accuracy_top1_iter_1.pth']


def test_a_run_without_validation_skips_the_check(tmp_path):
    runner = Runner(
        model=reviewkd_algorithm(), work_dir=str(tmp_path),
        experiment_name=f'teacher_check_{uuid.uuid4().hex}', default_scope='mmpretrain',
        train_dataloader=loader(), train_cfg=dict(by_epoch=False, max_iters=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        custom_hooks=[TeacherCheckHook()])
    runner.train()
    assert runner.message_hub.get_info('teacher_metrics') is None
    assert 'no teacher check' in next(tmp_path.glob('*/*.log')).read_text()
