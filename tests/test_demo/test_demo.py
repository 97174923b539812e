"""tools/demo.py: end to end in its quick mode (three trainings, a table, a loadable student),
its exit status when a run fails, which run its options reach, and the configs it compares."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

REPO = Path(__file__).parents[2]


@pytest.mark.slow
def test_quick_demo_prints_table_and_exports_student(tmp_path):
    work_dir = tmp_path / 'demo'
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'demo.py'), '--quick', '--work-dir', str(work_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    rows = re.findall(r'^(teacher|student baseline|student ReviewKD) .*?([\d.]+)\s+([\d.]+)$',
                      proc.stdout, flags=re.MULTILINE)
    assert [row[0] for row in rows] == ['teacher', 'student baseline', 'student ReviewKD']
    assert all(0 <= float(top1) <= 100 and float(seconds) > 0 for _, top1, seconds in rows)

    import mmpretrain.models  # noqa: F401
    from mmpretrain.registry import MODELS

    from rkd.apis import load_student
    student_cfg = Config.fromfile(str(REPO / 'configs' / 'digits' / 'resnet8_digits.py'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        student = MODELS.build(student_cfg.model)
    load_student(student, str(work_dir / 'reviewkd' / 'student.pth'))
    assert (work_dir / 'teacher' / 'epoch_2.pth').exists()


def load_demo_module():
    """tools/ is not a package: import demo.py from its path."""
    spec = importlib.util.spec_from_file_location('demo', REPO / 'tools' / 'demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('broken, expected', [
    ('student', ['teacher', 'reviewkd']),
    ('teacher', ['student']),  # ReviewKD needs the teacher's checkpoint
])
def test_a_failed_run_is_reported_and_fails_the_demo(tmp_path, monkeypatch, capsys, broken,
                                                     expected):
    demo = load_demo_module()
    ran = []

    def fake_train_and_test(config, work_dir, options):
        name = Path(work_dir).name
        if name == broken:
            raise RuntimeError(f'{name} broke')
        ran.append(name)
        return dict(top1=90.0, seconds=1.0, checkpoint=str(tmp_path / 'teacher.pth'))

    monkeypatch.setattr(demo, 'train_and_test', fake_train_and_test)
    monkeypatch.setattr(sys, 'argv', ['demo.py', '--work-dir', str(tmp_path)])
    assert demo.main() == 1
    assert ran == expected
    rows = re.findall(r'^(?:teacher|student).*  (failed|90\.00)  ', capsys.readouterr().out,
                      flags=re.MULTILINE)
    assert rows.count('failed') == 3 - len(expected) and rows.count('90.00') == len(expected)


def test_student_options_leave_the_teacher_alone(monkeypatch):
    demo = load_demo_module()
    monkeypatch.setattr(sys, 'argv', ['demo.py', '--seed', '3', '--epochs', '40',
                                      '--num-train', '50'])
    options = demo.run_options(demo.parse_args())
    assert options['teacher'] == {'randomness.seed': 3}
    for name in ('student', 'reviewkd'):
        assert options[name]['train_cfg.max_epochs'] == options[name]['param_scheduler.end'] == 40
        assert options[name]['train_dataloader.dataset.num_train'] == 50
    assert options['reviewkd']['model.distiller.warmup.length'] == 4  # 20/240 of 40, rounded up
    assert 'model.distiller.warmup.length' not in options['student']


def test_teacher_dtype_reaches_the_reviewkd_run_only(monkeypatch):
    demo = load_demo_module()
    monkeypatch.setattr(sys, 'argv', ['demo.py', '--teacher-dtype', 'bfloat16'])
    options = demo.run_options(demo.parse_args())
    assert options['reviewkd']['model.teacher.dtype'] == 'bfloat16'
    assert not any('model.teacher.dtype' in options[name] for name in ('teacher', 'student'))


def test_the_student_alone_and_with_reviewkd_share_data_and_schedule():
    """The demo's comparison is fair: the two student runs differ in the teacher only, and the
    teacher trains on every training image, more than the students get."""
    configs = {name: Config.fromfile(path) for name, path in load_demo_module().CONFIGS.items()}
    student, reviewkd, teacher = configs['student'], configs['reviewkd'], configs['teacher']
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
                'param_scheduler', 'optim_wrapper', 'data_preprocessor'):
        assert reviewkd[key] == student[key], key
    assert reviewkd.model.student == student.model
    assert teacher.train_dataloader.dataset.get('num_train') is None
    assert student.train_dataloader.dataset.num_train < 957
    side = student.train_dataloader.dataset.image_size
    assert reviewkd.model.probe_input_shape[1:] == (side, side)
