"""gpu_report's CPU smoke run (``--tiny``) writes the JSON and the markdown table with a row per
pair and form; the compiled rows are skipped there, and a spent budget skips what is left."""
import json
import subprocess
from pathlib import Path

import pytest

from rkd.analysis import gpu_report
from rkd.analysis.gpu_report import CASES, FORMS, main

REPO = Path(__file__).parents[2]


@pytest.fixture(autouse=True)
def repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # configs and their teacher configs are read from the root


@pytest.mark.slow
def test_tiny_run_writes_the_json_and_the_table(tmp_path):
    main(['--tiny', '--out-dir', str(tmp_path)])
    report = json.loads((tmp_path / 'gpu_report.json').read_text())
    assert report['device'] == 'cpu' and report['tiny'] and report['torch']
    rows = report['rows']
    assert [(r['case'], r['form']) for r in rows] == [(c.name, f.name) for c in CASES
                                                      for f in FORMS]
    for r in rows:
        if r['impl'] == 'compiled':
            assert r['status'].startswith('skipped: --tiny') and r['distill_ms'] is None
            continue
        assert r['status'] == 'ok' and r['batch_size'] == gpu_report.TINY_BATCH
        assert r['distill_ms'] > 0 and r['peak_mib'] > 0
        assert r['speedup'] == pytest.approx(
            next(b['distill_ms'] for b in rows if b['case'] == r['case']
                 and b['form'] == gpu_report.BASELINE) / r['distill_ms'])
    table = (tmp_path / 'gpu_report.md').read_text().splitlines()
    assert report['device_name'] in table[0] and report['torch'] in table[2]
    body = [line for line in table if line.startswith('| ') and not line.startswith('| pair')]
    assert len(body) == len(CASES) * len(FORMS)
    for line, r in zip(body, rows):
        assert line.startswith(f'| {r["case"]} |') and f'| {r["form"]} |' in line
        assert line.endswith(f'{r["status"]} |')


def test_a_spent_budget_skips_every_row(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_report, 'measure', lambda *_: pytest.fail('measured'))
    report = main(['--tiny', '--budget-s', '0', '--out-dir', str(tmp_path)])
    statuses = {r['form']: r['status'] for r in report['rows']}
    assert statuses.pop('compiled fp32').startswith('skipped: --tiny')
    assert set(statuses.values()) == {'skipped: device-time budget spent'}
    assert all(r['speedup'] is None for r in report['rows'])
    assert '| skipped: device-time budget spent |' in (tmp_path / 'gpu_report.md').read_text()


def test_without_cuda_it_says_how_to_run(monkeypatch):
    monkeypatch.setattr(gpu_report.torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit, match='no CUDA device here.*--tiny'):
        main([])


def test_compiled_rows_run_in_their_own_process_within_the_time_box(monkeypatch):
    """The compiled row's figures come from a child process's last line; a child past its time
    box or failing leaves a row saying so, and the rest of the report stands."""
    case, form = CASES[0], gpu_report.FORMS[-1]
    figures = dict(batch_size=128, input_size=[32, 32], overhead=1.5,
                   student=dict(ms=10.0), teacher=dict(ms=5.0),
                   distill=dict(ms=30.0, min_ms=29.0, max_ms=31.0, peak_mib=100.0))
    calls = []

    def run(cmd, timeout, **_):
        calls.append((cmd, timeout))
        return subprocess.CompletedProcess(cmd, 0, stdout=f'log\n{json.dumps(figures)}\n',
                                           stderr='')

    monkeypatch.setattr(gpu_report.subprocess, 'run', run)
    budget = gpu_report.Budget(100.0)
    r = gpu_report._compiled_row(case, form, 'cuda', False, budget, compile_box_s=50.0)
    assert r['status'] == 'ok' and r['distill_ms'] == 30.0 and r['peak_mib'] == 100.0
    cmd, timeout = calls.pop()
    assert cmd[-5:] == ['--one', case.name, form.name, '--device', 'cuda'] and timeout == 50.0
    gpu_report._compiled_row(case, form, 'cuda', False, gpu_report.Budget(30.0), 50.0)
    assert calls.pop()[1] < 30.0 - gpu_report.RESERVE_S + 1  # what is left of the budget

    def too_slow(cmd, timeout, **_):
        raise subprocess.TimeoutExpired(cmd, timeout)

    monkeypatch.setattr(gpu_report.subprocess, 'run', too_slow)
    r = gpu_report._compiled_row(case, form, 'cuda', False, budget, compile_box_s=50.0)
    assert r['status'] == 'skipped: compiling and running took over 50 s'
    assert r['distill_ms'] is None
    monkeypatch.setattr(gpu_report.subprocess, 'run', lambda cmd, **_: subprocess.CompletedProcess(
        cmd, 1, stdout='', stderr='Traceback\nRuntimeError: no backend'))
    r = gpu_report._compiled_row(case, form, 'cuda', False, budget, compile_box_s=50.0)
    assert r['status'] == 'failed: exit code 1: RuntimeError: no backend'


def test_one_measurement_prints_its_figures_as_the_last_line(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(gpu_report, 'measure',
                        lambda case, form, device, tiny: seen.append((case, form, device, tiny))
                        or dict(figures=1))
    main(['--one', CASES[1].name, 'compiled fp32', '--device', 'cpu'])
    assert seen == [(CASES[1], gpu_report.FORMS[-1], 'cpu', False)]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == dict(figures=1)
