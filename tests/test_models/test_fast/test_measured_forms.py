"""The default form is the one measured fastest on the kind of device training runs on; a kind
without a measurement gets the documented default, and the build log says which case it is. A
form named by ``impl`` always wins."""
import pytest
import torch

from rkd.models import _fast as fast
from rkd.models._fast import measured_forms
from rkd.models._fast.measured_forms import (CPU, CPU_AVX512_BF16, CUDA, MEASURED_FORMS,
                                             default_form, device_kind)
from rkd.registry import MODELS


@pytest.fixture
def logged(monkeypatch):
    lines = []
    monkeypatch.setattr(fast, 'print_log', lambda msg, **_: lines.append(msg))
    return lines


def on(monkeypatch, cuda: bool, capability: str = 'AVX2', flags=()):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    monkeypatch.setattr(torch.backends.cpu, 'get_cpu_capability', lambda: capability)
    monkeypatch.setattr(measured_forms, 'cpu_flags', lambda: set(flags))


@pytest.mark.parametrize('cuda, capability, flags, kind', [
    (True, 'AVX512', ['avx512_bf16'], CUDA),
    (False, 'AVX2', [], CPU),
    (False, 'AVX512', ['avx512f'], CPU),  # AVX-512 without its bf16 instructions
    (False, 'AVX512', ['avx512f', 'avx512_bf16'], CPU_AVX512_BF16),
    (False, 'AVX512', ['amx_bf16'], CPU_AVX512_BF16),
    (False, 'AVX2', ['avx512_bf16'], CPU),  # torch dispatches no AVX-512 kernels here
])
def test_device_kind(monkeypatch, cuda, capability, flags, kind):
    on(monkeypatch, cuda, capability, flags)
    assert device_kind() == kind


def test_every_kind_has_a_known_form_or_none_and_a_source():
    assert set(MEASURED_FORMS) == {CPU, CPU_AVX512_BF16, CUDA}
    for measured in MEASURED_FORMS.values():
        assert measured.form in (None, *fast.FORMS) and measured.source


def test_measured_and_unmeasured_defaults_say_why():
    form, why = default_form(CPU)
    assert form == MEASURED_FORMS[CPU].form
    assert why.startswith('measured fastest on this kind of device (CPU without AVX-512 BF16: ')
    assert MEASURED_FORMS[CPU].source in why
    form, why = default_form(CUDA)
    assert form == measured_forms.UNMEASURED_DEFAULT
    assert why.startswith('unmeasured on this kind of device (CUDA GPU; ')
    assert f'{form} chosen because ' in why


def test_the_build_logs_the_measured_choice(monkeypatch, logged):
    on(monkeypatch, cuda=False)
    connector = MODELS.build(dict(type='rkd.ABFConnector', student_channels=[4, 8],
                                  teacher_channels=[4, 8]))
    loss = MODELS.build(dict(type='rkd.HCLoss'))
    assert connector.impl == loss.impl == MEASURED_FORMS[CPU].form
    assert logged[0].startswith(
        f"ABFConnector runs its {connector.impl} form (impl='auto'): measured fastest on this "
        'kind of device (CPU without AVX-512 BF16: ')
    assert logged[1].startswith(f"HCLoss runs its {loss.impl} form (impl='auto'): measured ")


def test_the_build_logs_an_unmeasured_choice(monkeypatch, logged):
    on(monkeypatch, cuda=True)
    connector = MODELS.build(dict(type='rkd.ABFConnector', student_channels=[4, 8],
                                  teacher_channels=[4, 8]))
    assert connector.impl == measured_forms.UNMEASURED_DEFAULT
    assert logged.pop().startswith(
        f"ABFConnector runs its {connector.impl} form (impl='auto'): unmeasured on this kind of "
        'device (CUDA GPU; ')


@pytest.mark.parametrize('cuda', [True, False])
def test_a_named_form_wins(monkeypatch, logged, cuda):
    on(monkeypatch, cuda)
    loss = MODELS.build(dict(type='rkd.HCLoss', impl='reference'))
    assert loss.impl == 'reference'
    assert logged.pop().startswith("HCLoss runs its reference form (impl='reference'): named ")
