"""model_coverage.py on one family a task (the full sweep is a documented command): stock
configs distil with 'auto' recorders through build, training, test, export and a strict load,
including three families a new user saw fail (MobileViT, RTMDet, Deformable DETR)."""
import json
import runpy
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
TOOL = REPO / 'tools' / 'analysis_tools' / 'model_coverage.py'
FAMILIES = ['mmpretrain:mobilevit', 'mmdet:rtmdet', 'mmdet:deformable_detr', 'mmseg:segformer']


@pytest.mark.slow
def test_a_family_of_each_task_distils(tmp_path, monkeypatch):
    results, table = tmp_path / 'coverage.jsonl', tmp_path / 'coverage.md'
    monkeypatch.setattr(sys, 'argv', [str(TOOL), '--families', *FAMILIES, '--results',
                                      str(results), '--out', str(table)])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(TOOL), run_name='__main__')
    outcomes = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(o['task'], o['family'], o['result']) for o in outcomes] == [
        (*family.split(':'), 'pass') for family in FAMILIES], outcomes
    assert exit_.value.code == 0
    assert all(o['losses']['loss_reviewkd'] > 0 for o in outcomes)
    by_family = {o['family']: o for o in outcomes}
    assert by_family['mobilevit']['student'] == \
        'mmpretrain::mobilevit/mobilevit-xxsmall_8xb128_in1k.py'
    markdown = table.read_text()
    assert '4 pass, 0 fail, 0 n/a of 4 families' in markdown
    assert '| deformable_detr | pass |' in markdown and '## mmseg' in markdown


def test_an_unfinished_sweep_resumes_and_keeps_failures(tmp_path, monkeypatch):
    from rkd.analysis.model_coverage import Outcome, markdown
    results, table = tmp_path / 'coverage.jsonl', tmp_path / 'coverage.md'
    done = Outcome('mmdet', 'ssd', result='fail', stage='train', message='ValueError: x | y')
    results.write_text(json.dumps(done.as_dict()) + '\n')
    monkeypatch.setattr(sys, 'argv', [str(TOOL), '--families', 'mmdet:ssd', '--results',
                                      str(results), '--out', str(table)])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(TOOL), run_name='__main__')  # nothing left to run: ssd is done
    assert exit_.value.code == 1  # a failing family fails the sweep
    assert len(results.read_text().splitlines()) == 1
    assert '| ssd | fail | train: ValueError: x \\| y |' in table.read_text()
    assert markdown([done], 'cmd', 'a CPU').count('| ssd |') == 1


def test_a_grayscale_family_of_a_fixed_size_is_fed_as_its_config_says():
    """LeNet takes 1-channel 32x32 images only (its config's pipeline resizes to 32): the sweep
    feeds the channels of the model's first convolution at the size its pipeline names."""
    from rkd.analysis.model_coverage import run_family
    outcome = run_family('mmpretrain', 'lenet')
    assert (outcome.result, outcome.size) == ('pass', 32), outcome


def test_model_options_reach_the_distillation_model(tmp_path, monkeypatch):
    """--model-options: LeNet passes with channels_last=True; a bad value fails at build, with
    the model's own message, so the option was the model's; the table names the options."""
    outcomes = {}
    for value in ('True', 'yes'):
        results, table = tmp_path / f'{value}.jsonl', tmp_path / f'{value}.md'
        monkeypatch.setattr(sys, 'argv', [str(TOOL), '--families', 'mmpretrain:lenet',
                                          '--results', str(results), '--out', str(table),
                                          '--model-options', f'channels_last={value}'])
        with pytest.raises(SystemExit):
            runpy.run_path(str(TOOL), run_name='__main__')
        outcomes[value] = json.loads(results.read_text())
    assert outcomes['True']['result'] == 'pass', outcomes['True']
    failed = outcomes['yes']
    assert (failed['result'], failed['stage']) == ('fail', 'build'), failed
    assert "model.channels_last must be True or False, got 'yes'" in failed['message']
    assert '--model-options channels_last=yes' in table.read_text()


def test_failed_families_run_again_on_request(tmp_path, monkeypatch):
    from rkd.analysis.model_coverage import Outcome
    results, table = tmp_path / 'coverage.jsonl', tmp_path / 'coverage.md'
    stale = Outcome('mmpretrain', 'lenet', result='fail', stage='build', message='fixed since')
    results.write_text(json.dumps(stale.as_dict()) + '\n')
    monkeypatch.setattr(sys, 'argv', [str(TOOL), '--families', 'mmpretrain:lenet', '--results',
                                      str(results), '--out', str(table), '--rerun-failed'])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(TOOL), run_name='__main__')
    assert exit_.value.code == 0
    assert [json.loads(line)['result'] for line in results.read_text().splitlines()] == [
        'fail', 'pass']  # the later line wins
    assert '| lenet | pass |' in table.read_text()


def test_a_timeout_the_family_swallows_fires_again():
    # a build probe turns any error into its own: the time limit must not end with the first
    from rkd.analysis.model_coverage import _time_limit
    start = time.perf_counter()
    with pytest.raises(TimeoutError), _time_limit(1, again_after=0.2):
        try:
            time.sleep(5)
        except TimeoutError:
            pass
        time.sleep(5)
    assert time.perf_counter() - start < 2


def test_a_family_that_fails_alone_shows_the_reason_at_its_own_size(monkeypatch):
    # LeViT: at 64 px its attention biases do not fit; at 224, its config's size, the real
    # reason shows (mmpretrain's LeViT head cannot train with its distillation token)
    from rkd.analysis import model_coverage
    from rkd.analysis.model_coverage import StageFailure, check_pair

    def distill(student, teacher, size, steps, model_options=None):
        raise StageFailure('train', RuntimeError('alone it fails too'))

    def alone(student, teacher, size, steps):
        raise StageFailure('student alone', RuntimeError(f'fails at {size}'))

    monkeypatch.setattr(model_coverage, '_distill', distill)
    monkeypatch.setattr(model_coverage, '_both_train_alone_at', alone)
    monkeypatch.setattr(model_coverage, '_own_sizes', lambda config: [224])
    outcome = check_pair('mmpretrain', 'levit', 'a/student.py', 'a/teacher.py',
                         sizes=(64, 128, 512))
    assert (outcome.result, outcome.size, outcome.message) == ('n/a', 224,
                                                               'RuntimeError: fails at 224')
    monkeypatch.setattr(model_coverage, '_own_sizes', lambda config: [])
    outcome = check_pair('mmpretrain', 'levit', 'a/student.py', 'a/teacher.py',
                         sizes=(64, 128, 512))
    assert outcome.size == 512


def test_a_square_size_given_as_a_pair_is_the_configs_own():
    from rkd.analysis.model_coverage import _own_sizes, config_root
    assert _own_sizes(str(config_root('mmdet') / 'pascal_voc' / 'ssd300_voc0712.py')) == [300]


def test_the_size_a_test_pipeline_ends_with_is_the_configs_own():
    from rkd.analysis.model_coverage import _own_sizes, config_root

    # ResizeEdge to 256, then a 224 crop
    assert _own_sizes(str(config_root('mmpretrain') / 'levit' / 'levit-128s_8xb256_in1k.py')) \
        == [224]
