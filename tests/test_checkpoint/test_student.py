"""Student export: strict-loading checkpoints, never a non-finite one."""
import pytest
import torch
from mmengine.runner import save_checkpoint

from rkd.apis import export_student, load_student
from rkd.utils.non_finite import NonFiniteError


def distill_state(value: float = 0.5) -> dict:
    return {'student.fc.weight': torch.full((2, 2), value), 'student.fc.bias': torch.zeros(2),
            'distiller.connector.w': torch.ones(1)}


def test_export_keeps_the_student_only_and_loads_strictly(tmp_path):
    save_checkpoint(dict(state_dict=distill_state(), meta=dict(iter=7)), str(tmp_path / 'i.pth'))
    export_student(str(tmp_path / 'i.pth'), str(tmp_path / 'student.pth'))
    student = torch.nn.Module()
    student.fc = torch.nn.Linear(2, 2)
    load_student(student, str(tmp_path / 'student.pth'))
    torch.testing.assert_close(student.fc.weight, torch.full((2, 2), 0.5))


def test_a_non_finite_student_is_never_exported(tmp_path):
    save_checkpoint(dict(state_dict=distill_state(float('nan'))), str(tmp_path / 'nan.pth'))
    with pytest.raises(NonFiniteError, match=r'non-finite weights in 1 of 2 tensors: fc.weight'):
        export_student(str(tmp_path / 'nan.pth'), str(tmp_path / 'student.pth'))
    assert not (tmp_path / 'student.pth').exists()
