"""Distillation checkpoints leave the frozen teacher out; loading them restores the whole model."""
import pytest
import torch
from mmengine.runner import save_checkpoint

from rkd.registry import MODELS

from helpers import reviewkd_algorithm, tiny_classifier


@pytest.fixture
def teacher_file(tmp_path, mmpretrain_scope):
    teacher = MODELS.build(tiny_classifier(base_channels=8))
    save_checkpoint(dict(state_dict=teacher.state_dict()), str(tmp_path / 'teacher.pth'))
    return str(tmp_path / 'teacher.pth')


def test_checkpoints_leave_a_reloadable_teacher_out(tmp_path, teacher_file, mmpretrain_scope):
    algorithm = MODELS.build(reviewkd_algorithm(teacher_checkpoint=teacher_file))
    state = algorithm.state_dict()
    assert state and not [key for key in state if key.startswith('teacher.')]
    assert {key.split('.')[0] for key in state} == {'student', 'distiller'}

    save_checkpoint(dict(state_dict=state), str(tmp_path / 'distill.pth'))
    full = {**state, **{f'teacher.{k}': v for k, v in algorithm.teacher.state_dict().items()}}
    save_checkpoint(dict(state_dict=full), str(tmp_path / 'with_teacher.pth'))
    teacher_bytes = (tmp_path / 'teacher.pth').stat().st_size
    saved_bytes = (tmp_path / 'distill.pth').stat().st_size
    assert saved_bytes < (tmp_path / 'with_teacher.pth').stat().st_size - 0.9 * teacher_bytes


def test_a_teacher_free_state_dict_loads_strictly(teacher_file, mmpretrain_scope):
    trained = MODELS.build(reviewkd_algorithm(teacher_checkpoint=teacher_file))
    with torch.no_grad():
        for param in trained.student.parameters():
            param.add_(1.0)
    fresh = MODELS.build(reviewkd_algorithm(teacher_checkpoint=teacher_file))
    teacher_before = {k: v.clone() for k, v in fresh.teacher.state_dict().items()}
    fresh.load_state_dict(trained.state_dict(), strict=True)
    for key, value in trained.student.state_dict().items():
        torch.testing.assert_close(fresh.student.state_dict()[key], value, rtol=0, atol=0)
    for key, value in fresh.teacher.state_dict().items():
        torch.testing.assert_close(value, teacher_before[key], rtol=0, atol=0)


def test_a_random_teacher_stays_in_the_checkpoint(mmpretrain_scope):
    """Without its own checkpoint nothing else could restore it."""
    algorithm = MODELS.build(reviewkd_algorithm(teacher_checkpoint=None))
    assert any(key.startswith('teacher.') for key in algorithm.state_dict())
