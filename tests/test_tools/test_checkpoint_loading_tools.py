"""Every tool that loads a checkpoint refuses a malicious one with rkd's message, runs none of it
and leaves the work dir as it was; rkd's own checkpoints still resume."""
import hashlib
import re
import runpy
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.runner import save_checkpoint

from rkd.checkpoint import safe_torch_load

from helpers import tiny_classifier, write_config, write_image_folder
from malicious_checkpoints import MALICIOUS

REPO = Path(__file__).parents[2]


def run_tool(monkeypatch, tool: str, *args: str) -> None:
    """A tool in this process, as its command line runs it (faster than a fresh interpreter)."""
    monkeypatch.setattr(sys, 'argv', [tool, *args])
    runpy.run_path(str(REPO / 'tools' / tool), run_name='__main__')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A two-iteration distillation run: its config, work dir, teacher and data."""
    import mmpretrain.models  # noqa: F401
    from mmpretrain.registry import MODELS

    root = tmp_path_factory.mktemp('run')
    write_image_folder(root / 'data')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        teacher = MODELS.build(tiny_classifier(base_channels=8))
    save_checkpoint(dict(state_dict=teacher.state_dict()), str(root / 'teacher.pth'))
    write_config(root / 'distill.py', root / 'data', str(root / 'teacher.pth'), max_iters=2)
    with pytest.MonkeyPatch.context() as monkeypatch:
        run_tool(monkeypatch, 'train.py', str(root / 'distill.py'), '--work-dir',
                 str(root / 'work'))
    return root


def digests(folder: Path) -> dict:
    """Checkpoints and logs of a work dir. (Each run re-dumps its config there: mmengine's way.)"""
    return {path: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in folder.rglob('*') if path.is_file() and path.suffix != '.py'}


def wait_for_a_new_log_folder(work_dir: Path) -> None:
    """mmengine names a run's log folder after the second the run starts, so a run that starts
    in the same second as the last one writes into that run's log: wait for the next second."""
    started = [path.name for path in work_dir.iterdir()
               if path.is_dir() and re.fullmatch(r'\d{8}_\d{6}', path.name)]
    while started and time.strftime('%Y%m%d_%H%M%S') <= max(started):
        time.sleep(0.05)


ENTRY_POINTS = {
    'teacher checkpoint': lambda run, evil: (
        'train.py', str(write_config(run / 'evil_teacher.py', run / 'data', evil, 2)
                        or run / 'evil_teacher.py'), '--work-dir', str(run / 'work')),
    'resume checkpoint': lambda run, evil: (
        'train.py', str(run / 'distill.py'), '--work-dir', str(run / 'work'), '--resume', evil),
    'checkpoint to test': lambda run, evil: (
        'test.py', str(run / 'distill.py'), evil, '--work-dir', str(run / 'work')),
    'checkpoint to export': lambda run, evil: (
        'export_student.py', evil, str(run / 'work' / 'exported.pth')),
}


@pytest.mark.parametrize('kind', sorted(MALICIOUS))
@pytest.mark.parametrize('role', sorted(ENTRY_POINTS))
def test_tools_refuse_malicious_checkpoints(trained, tmp_path, monkeypatch, capsys, role, kind):
    marker = tmp_path / 'marker'
    evil = str(MALICIOUS[kind](tmp_path / 'evil.pth', marker))
    wait_for_a_new_log_folder(trained / 'work')
    before = digests(trained / 'work')

    with pytest.raises(SystemExit) as exit_info:
        run_tool(monkeypatch, *ENTRY_POINTS[role](trained, evil))

    assert exit_info.value.code == 1
    message = capsys.readouterr().err
    assert f'The {role} "{evil}" was refused' in message and 'code execution' in message
    assert 'weights_only' not in message
    assert not marker.exists()
    after = digests(trained / 'work')
    assert {path: after[path] for path in before} == before
    assert not (trained / 'work' / 'exported.pth').exists()


def test_resume_reads_the_runner_checkpoint_as_saved(trained, tmp_path, monkeypatch):
    """``--resume`` under torch's safe loader, and the state it reads is the state written."""
    import pickle
    checkpoint = trained / 'work' / 'iter_2.pth'
    safe = safe_torch_load(str(checkpoint), map_location='cpu')
    with open(checkpoint, 'rb'):  # rkd wrote this file in the fixture: a full unpickle is fine
        full = torch.load(checkpoint, map_location='cpu', weights_only=False,
                          pickle_module=pickle)
    assert pickle.dumps(safe['meta']) == pickle.dumps(full['meta'])
    for key, value in full['state_dict'].items():
        torch.testing.assert_close(safe['state_dict'][key], value, rtol=0, atol=0)
    assert safe['message_hub']['log_scalars'].keys() == full['message_hub']['log_scalars'].keys()

    work_dir = tmp_path / 'resumed'
    work_dir.mkdir()
    (work_dir / 'iter_2.pth').write_bytes(checkpoint.read_bytes())
    write_config(tmp_path / 'longer.py', trained / 'data', str(trained / 'teacher.pth'), 3)
    run_tool(monkeypatch, 'train.py', str(tmp_path / 'longer.py'), '--work-dir', str(work_dir),
             '--resume', str(work_dir / 'iter_2.pth'))
    resumed = safe_torch_load(str(work_dir / 'iter_3.pth'))
    assert resumed['meta']['iter'] == 3 and not (work_dir / 'iter_1.pth').exists()
    assert resumed['optimizer']['state'], 'the optimizer state (momentum) was resumed'


def test_test_tool_refuses_a_checkpoint_of_another_model(trained, monkeypatch, capsys):
    """The student-only export does not fit the distillation model: nothing is tested."""
    student = str(trained / 'work' / 'student.pth')
    with pytest.raises(SystemExit) as exit_info:
        run_tool(monkeypatch, 'test.py', str(trained / 'distill.py'), student,
                 '--work-dir', str(trained / 'test'))
    assert exit_info.value.code == 1
    message = capsys.readouterr().err
    assert f'The checkpoint to test "{student}" does not fit the model' in message
    assert 'missing from the file (e.g. student.' in message
    assert 'unexpected in the file (e.g. backbone.' in message
