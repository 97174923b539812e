"""tools/analysis_tools/benchmark.py end to end: each form in processes of its own, JSON out."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]

pytestmark = pytest.mark.slow


def test_mixed_precision_against_the_float32_reference():
    cmd = [sys.executable, 'tools/analysis_tools/benchmark.py',
           'configs/digits/reviewkd_resnet32_resnet8_digits.py', '--batch-size', '2',
           '--steps', '1', '--warmup', '0', '--rounds', '2', '--amp', 'bf16', '--channels-last',
           '--fp32-reference', '--json']
    out = subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True).stdout
    cases = {case['impl']: case for case in map(json.loads, out.strip().splitlines())}
    assert set(cases) == {'fast', 'reference'}
    assert (cases['fast']['amp'], cases['fast']['channels_last']) == ('bf16', True)
    assert (cases['reference']['amp'], cases['reference']['channels_last']) == (None, False)
    for case in cases.values():
        assert case['steps'] == 2  # one step in each of two rounds, pooled
        for part in ('student', 'teacher', 'distill'):
            assert len(case[part]['times_ms']) == 2 and case[part]['peak_mib'] > 0
        # The distillation step holds the student's activations and the connector's maps.
        assert case['distill']['peak_mib'] > case['student']['peak_mib']


def test_a_failing_measurement_is_one_clear_message():
    cmd = [sys.executable, 'tools/analysis_tools/benchmark.py',
           'configs/digits/reviewkd_resnet32_resnet8_digits.py', '--impl', 'fast',
           '--rounds', '1', '--steps', '1', '--warmup', '0',
           '--cfg-options', 'model.distiller.student_recorders=[nek]']
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode != 0
    assert 'Benchmarking the fast form' in done.stderr
    assert 'No module named "nek" in the student' in done.stderr
    assert 'CalledProcessError' not in done.stderr
