"""install_safe_loaders: what mmengine's own loaders still do that makes it necessary, and the
private part of mmengine it relies on."""
import shutil

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, save_checkpoint

from rkd.checkpoint.safe_loading import SAFE_SCHEMES
from rkd.engine.compat import install_safe_loaders

from malicious_checkpoints import reduce_payload


def test_mmengine_url_loader_still_runs_code_from_a_file(tmp_path, monkeypatch):
    """The reason for the URL loaders. If this fails, mmengine loads URLs safely by itself."""
    marker = tmp_path / 'marker'
    reduce_payload(tmp_path / 'evil.pth', marker)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    monkeypatch.setattr(torch.hub, 'download_url_to_file',
                        lambda url, dst, *args, **kwargs: shutil.copy(tmp_path / 'evil.pth', dst))
    try:
        mmengine_checkpoint.load_from_http('https://example.com/evil.pth')
    except Exception:  # noqa: S110  (what matters is whether the payload ran)
        pass
    assert marker.exists(), 'mmengine no longer unpickles URLs unsafely'


def test_mmengine_local_loader_still_cannot_read_its_runner_checkpoints(tmp_path):
    """The reason for the local loader. If this fails, mmengine reads its own checkpoints
    under torch's safe unpickler by itself."""
    hub = MessageHub.get_instance('rkd-compat-local')
    hub.update_scalar('train/loss', 1.0)
    save_checkpoint(dict(message_hub=hub.state_dict()), str(tmp_path / 'iter_1.pth'))
    with pytest.raises(Exception, match='HistoryBuffer'):
        mmengine_checkpoint.load_from_local(str(tmp_path / 'iter_1.pth'), 'cpu')


def test_install_puts_rkd_loaders_behind_every_scheme(monkeypatch):
    monkeypatch.setattr(CheckpointLoader, '_schemes', CheckpointLoader._schemes.copy())
    install_safe_loaders()
    install_safe_loaders()
    for prefix, loader in SAFE_SCHEMES.items():
        assert CheckpointLoader._get_checkpoint_loader(prefix + 'x.pth') is loader, prefix
    other = {prefix for prefix in CheckpointLoader._schemes if prefix not in SAFE_SCHEMES}
    # object stores (torch.load's safe default on the bytes): a new scheme needs a look
    assert other == {'pavi://', r'(\S+\:)?s3://', r'(\S+\:)?petrel://'}, other
