"""list_features.py: its printed recorder lists make a config that trains."""
import runpy
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from helpers import write_config, write_image_folder

REPO = Path(__file__).parents[2]
TOOL = REPO / 'tools' / 'analysis_tools' / 'list_features.py'


def list_features(monkeypatch, capsys, *args: str) -> str:
    monkeypatch.setattr(sys, 'argv', [str(TOOL), *args])
    runpy.run_path(str(TOOL), run_name='__main__')
    return capsys.readouterr().out


def printed_recorders(out: str) -> dict:
    """The ``student_recorders=[...], teacher_recorders=[...],`` block the tool ends with."""
    block = out.split('# model.distiller of a ReviewKD config')[1].split('\n', 1)[1]
    return eval(f'dict({block})')  # the tool's own output: plain dicts and strings


def test_the_printed_recorders_train(tmp_path, monkeypatch, capsys):
    write_image_folder(tmp_path / 'data')
    write_config(tmp_path / 'draft.py', tmp_path / 'data', None, max_iters=1)
    out = list_features(monkeypatch, capsys, str(tmp_path / 'draft.py'),
                        '--input-size', '16', '16', '--teacher-pre-activation')
    assert '* backbone ' in out and 'head.loss_module' in out  # marked, and the training path
    recorders = printed_recorders(out)
    assert recorders['teacher_recorders'][0] == dict(source='backbone.layer1.1.relu',
                                                     io='input', call=-1)
    # the student's four stages are the backbone's whole output: one recorder, four levels
    assert recorders['student_recorders'] == ['backbone', dict(source='neck', element=-1)]
    assert len(recorders['teacher_recorders']) == 5

    cfg = Config.fromfile(tmp_path / 'draft.py')
    cfg.model.distiller.update(recorders)
    cfg.dump(str(tmp_path / 'explored.py'))
    monkeypatch.setattr(sys, 'argv', ['train.py', str(tmp_path / 'explored.py'), '--work-dir',
                                      str(tmp_path / 'work')])
    runpy.run_path(str(REPO / 'tools' / 'train.py'), run_name='__main__')
    assert (tmp_path / 'work' / 'student.pth').exists()


@pytest.mark.parametrize('config, levels', [
    ('coco/reviewkd_faster-rcnn_r101_r18_fpn_ms-180k_coco.py', 5),
    ('cityscapes/reviewkd_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py', 4),
    ('ade20k/reviewkd_segformer_mit-b4_segformer_mit-b0_8xb2-160k_ade20k-512x512.py', 4),
    ('cifar100/reviewkd_resnet32x4_resnet8x4_cifar100.py', 4),
])
def test_shipped_configs_of_each_task(monkeypatch, capsys, config, levels):
    out = list_features(monkeypatch, capsys, str(REPO / 'configs' / config),
                        '--input-size', '64', '64', '--model', 'student')
    assert 'student: ' in out and 'teacher: ' not in out
    assert out.count('\n    ', out.index('student_recorders=[')) == levels
