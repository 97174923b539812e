"""Teacher checkpoints as they come from elsewhere: saved by DDP, in fp16, nested under another
key, or given as a URL on a machine without network or without a writable cache."""
import socket
import time

import pytest
import torch
from mmengine.registry import DefaultScope

from rkd.checkpoint import CheckpointLoadError, load_weights, safe_loading

from helpers import tiny_classifier


def tiny_teacher() -> torch.nn.Module:
    import mmpretrain.models  # noqa: F401
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(tiny_classifier(base_channels=8))


@pytest.fixture(scope='module')
def weights():
    torch.manual_seed(0)
    return tiny_teacher().state_dict()


def ddp(weights):
    return dict(state_dict={f'module.{key}': value for key, value in weights.items()})


def fp16(weights):
    return dict(state_dict={key: value.half() if value.is_floating_point() else value
                            for key, value in weights.items()})


def under_model(weights):  # DeiT, Swin and many research repositories
    return dict(model=weights, epoch=300)


def ema_alone(weights):  # an mmengine EMAHook's averaged model: `module.` names and a step count
    return dict(ema_state_dict={**{f'module.{key}': value for key, value in weights.items()},
                                'steps': torch.tensor(7)}, meta=dict(epoch=3))


def ema_with_state_dict(weights):  # EMAHook writes the averaged weights to both
    return dict(state_dict=weights, ema_state_dict={'module.backbone.conv1.weight': None,
                                                    'steps': torch.tensor(7)})


@pytest.mark.parametrize('form', [ddp, fp16, under_model, ema_alone, ema_with_state_dict])
def test_teacher_checkpoints_of_other_forms_load_their_weights(tmp_path, weights, form):
    torch.save(form(weights), tmp_path / 'teacher.pth')
    teacher = tiny_teacher()
    load_weights(teacher, str(tmp_path / 'teacher.pth'), 'teacher checkpoint')
    for key, value in teacher.state_dict().items():
        assert value.dtype == weights[key].dtype, key  # fp16 files load into the fp32 model
        expected = weights[key].half().to(value.dtype) if form is fp16 and \
            value.is_floating_point() else weights[key]
        assert torch.equal(value, expected), key


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def test_a_url_teacher_offline_is_a_clear_error_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    url = f'http://127.0.0.1:{closed_port()}/teacher.pth'
    start = time.monotonic()
    with pytest.raises(CheckpointLoadError,
                       match=r'The teacher checkpoint "http://127.0.0.1:\d+/teacher.pth" cannot '
                       r'be downloaded \(.*Connection refused\): check the URL and the network. '
                       'Offline, download it where there is a network and give its local path'):
        load_weights(tiny_teacher(), url, 'teacher checkpoint')
    assert time.monotonic() - start < 5
    assert not list((tmp_path / 'torch').rglob('*.pth*'))  # no partial download left


def test_a_server_that_never_answers_times_out(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setattr(safe_loading, 'DOWNLOAD_TIMEOUT_S', 0.5)
    with socket.socket() as silent:  # accepts connections (the backlog), never sends a byte
        silent.bind(('127.0.0.1', 0))
        silent.listen(1)
        url = f'http://127.0.0.1:{silent.getsockname()[1]}/teacher.pth'
        start = time.monotonic()
        with pytest.raises(CheckpointLoadError, match=r'cannot be downloaded \(timed out\)'):
            load_weights(tiny_teacher(), url, 'teacher checkpoint')
        assert time.monotonic() - start < 5
    assert socket.getdefaulttimeout() is None  # the process's default is put back


def test_an_unwritable_cache_names_the_folder_and_torch_home(tmp_path, monkeypatch):
    (tmp_path / '.cache').write_text('a file where ~/.cache should be a folder')
    monkeypatch.setenv('HOME', str(tmp_path))
    for variable in ('TORCH_HOME', 'XDG_CACHE_HOME'):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(CheckpointLoadError,
                       match=r'cannot be downloaded to the cache folder ".*/.cache/torch/hub/'
                       r'checkpoints" \(Not a directory\): set TORCH_HOME to a writable folder'):
        load_weights(tiny_teacher(), 'https://example.com/teacher.pth', 'teacher checkpoint')
