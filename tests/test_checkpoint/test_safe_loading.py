"""rkd's checkpoint loading runs no code from a file, and still reads mmengine's checkpoints:
through :func:`safe_load_checkpoint` always, through mmengine's ``_load_checkpoint`` once rkd's
entry points installed the loaders (never at import)."""
import builtins
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint, save_checkpoint

from rkd.checkpoint import (CheckpointLoadError, UnsafeCheckpointError, checkpoint_role,
                            safe_load_checkpoint, safe_torch_load)
from rkd.engine.compat import install_safe_loaders

from malicious_checkpoints import MALICIOUS, getattr_gadget, history_buffer_method_gadget


@pytest.fixture(autouse=True)
def safe_loaders_installed(monkeypatch):
    """mmengine's loader as rkd's tools leave it; mmengine's own loaders back afterwards."""
    monkeypatch.setattr(CheckpointLoader, '_schemes', CheckpointLoader._schemes.copy())
    install_safe_loaders()


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'marker'
    yield path
    assert not path.exists(), 'the payload of the malicious checkpoint ran'


def test_the_gadget_runs_where_getattr_is_trusted(tmp_path):
    """The getattr gadget is real: what rkd trusted at import before, runs it."""
    marker = tmp_path / 'marker'
    getattr_gadget(tmp_path / 'gadget.pth', marker)
    with torch.serialization.safe_globals([HistoryBuffer, builtins.getattr]):
        torch.load(tmp_path / 'gadget.pth')
    assert marker.read_text() == 'pwned'


def test_importing_rkd_leaves_mmengine_loaders_alone():
    script = ('import rkd, rkd.apis, rkd.engine.compat\n'
              'from mmengine.runner.checkpoint import CheckpointLoader\n'
              'print({loader.__module__ for loader in CheckpointLoader._schemes.values()})')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            check=True)
    assert 'rkd' not in result.stdout, result.stdout


# mmengine's entry with rkd's loaders installed behind it, and rkd's own entry without them
LOADS = {'mmengine': _load_checkpoint, 'rkd': safe_load_checkpoint}


@pytest.mark.parametrize('load', sorted(LOADS))
@pytest.mark.parametrize('kind', sorted(MALICIOUS))
def test_malicious_checkpoints_are_refused_with_their_role(
        tmp_path, marker, kind, load, monkeypatch):
    if load == 'rkd':  # rkd's own loads need no installation
        monkeypatch.setattr(CheckpointLoader, '_schemes', {})
    path = str(MALICIOUS[kind](tmp_path / 'evil.pth', marker))
    with checkpoint_role('teacher checkpoint', path), \
            pytest.raises(UnsafeCheckpointError) as error:
        LOADS[load](path, map_location='cpu')
    message = str(error.value)
    assert f'The teacher checkpoint "{path}" was refused' in message
    assert 'code execution' in message and 'weights_only' not in message


@pytest.mark.parametrize('kind', sorted(MALICIOUS))
def test_plain_torch_load_stays_safe_after_import_rkd(tmp_path, marker, kind):
    path = MALICIOUS[kind](tmp_path / 'evil.pth', marker)
    trusted_before = set(torch.serialization.get_safe_globals())
    torch.save({}, tmp_path / 'ok.pth')
    safe_torch_load(str(tmp_path / 'ok.pth'))
    with pytest.raises(Exception, match='Unsupported global'):
        torch.load(path)
    trusted = set(torch.serialization.get_safe_globals())
    assert trusted == trusted_before
    assert not {builtins.getattr, HistoryBuffer} & {g[0] if isinstance(g, tuple) else g
                                                    for g in trusted}


def test_an_mmengine_checkpoint_loads_as_it_was_saved(tmp_path):
    hub = MessageHub.get_instance('rkd-test-safety')
    for step in range(3):
        hub.update_scalar('train/loss', 1.0 / (step + 1))
    hub.update_info('iter', 3)
    saved = dict(state_dict=dict(w=torch.arange(4.)), message_hub=hub.state_dict(),
                 meta=dict(seed=0, dataset_meta=dict(classes=('a', 'b')),
                           array=np.arange(3, dtype=np.int64), scalar=np.float32(0.5)))
    save_checkpoint(saved, str(tmp_path / 'iter_3.pth'))

    loaded = _load_checkpoint(str(tmp_path / 'iter_3.pth'), map_location='cpu')
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert type(buffer) is HistoryBuffer
    np.testing.assert_array_equal(buffer.data[0], hub.get_scalar('train/loss').data[0])
    assert buffer.mean() == pytest.approx(hub.get_scalar('train/loss').mean())
    torch.testing.assert_close(loaded['state_dict']['w'], saved['state_dict']['w'])
    np.testing.assert_array_equal(loaded['meta']['array'], saved['meta']['array'])
    assert loaded['meta']['scalar'] == saved['meta']['scalar']
    MessageHub.get_instance('rkd-test-safety-2').load_state_dict(loaded['message_hub'])


def _history_buffer_pickle(tmp_path, **state):
    """A checkpoint holding a HistoryBuffer whose pickled state has ``state`` added."""
    buffer = HistoryBuffer([1.0, 2.0], [1, 1])
    buffer.__dict__.update(state)
    torch.save(dict(buffer=buffer), tmp_path / 'buffer.pth')
    return str(tmp_path / 'buffer.pth')


def test_a_history_buffer_with_foreign_fields_is_refused(tmp_path):
    path = _history_buffer_pickle(tmp_path, __setstate__=np.ndarray)
    with pytest.raises(UnsafeCheckpointError, match='HistoryBuffer state with fields'):
        safe_torch_load(path)


def test_getattr_names_history_buffer_statistics_only(tmp_path):
    mean = safe_torch_load(str(history_buffer_method_gadget(tmp_path / 'mean.pth', 'mean')))
    assert type(mean) is HistoryBuffer
    with pytest.raises(UnsafeCheckpointError, match="getattr.*'__init__'"):
        safe_torch_load(str(history_buffer_method_gadget(tmp_path / 'init.pth', '__init__')))


@pytest.mark.parametrize('content', [b'\x00garbage' * 64, None])
def test_damaged_files_are_unreadable_not_unsafe(tmp_path, content):
    path = tmp_path / 'damaged.pth'
    torch.save(dict(w=torch.zeros(256)), path)
    path.write_bytes(content if content is not None else path.read_bytes()[:300])
    with checkpoint_role('resume checkpoint', str(path)), \
            pytest.raises(CheckpointLoadError) as error:
        _load_checkpoint(str(path))
    assert type(error.value) is CheckpointLoadError
    assert f'The resume checkpoint "{path}" cannot be read' in str(error.value)
    assert 'weights_only' not in str(error.value)


def test_urls_are_downloaded_then_loaded_safely(tmp_path, marker, monkeypatch):
    getattr_gadget(tmp_path / 'evil.pth', marker)
    torch.save(dict(state_dict=dict(w=torch.ones(2))), tmp_path / 'good.pth')
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    monkeypatch.setattr(torch.hub, 'download_url_to_file',
                        lambda url, dst, **kwargs: shutil.copy(tmp_path / url.split('/')[-1], dst))
    good = _load_checkpoint('https://example.com/models/good.pth')
    torch.testing.assert_close(good['state_dict']['w'], torch.ones(2))
    with checkpoint_role('teacher checkpoint', 'https://example.com/models/evil.pth'), \
            pytest.raises(UnsafeCheckpointError, match='The teacher checkpoint .*evil.pth'):
        _load_checkpoint('https://example.com/models/evil.pth')


def test_a_missing_file_says_so_with_its_role(tmp_path):
    missing = str(tmp_path / 'epoch_240.pth')
    with checkpoint_role('teacher checkpoint', missing), \
            pytest.raises(CheckpointLoadError, match=f'The teacher checkpoint "{missing}" does '
                          'not exist'):
        _load_checkpoint(missing)
