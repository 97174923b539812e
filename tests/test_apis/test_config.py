"""What the tools do to a config before the Runner: options that cannot work are refused."""
import pytest
from mmengine.config import Config

from rkd.apis import enable_auto_scale_lr, set_resume, start_checkpoint


def test_auto_scale_lr_needs_the_base_batch_size():
    with pytest.raises(RuntimeError, match=r'--auto-scale-lr needs `auto_scale_lr = '
                       r'dict\(base_batch_size=...\)`'):
        enable_auto_scale_lr(Config(dict(model=dict())))
    cfg = Config(dict(auto_scale_lr=dict(base_batch_size=128)))
    enable_auto_scale_lr(cfg)
    assert cfg.auto_scale_lr.enable


def test_the_start_checkpoint_and_its_role(tmp_path):
    cfg = Config(dict(work_dir=str(tmp_path), load_from='pretrained.pth'))
    assert start_checkpoint(cfg) == ('checkpoint to start from (load_from)', 'pretrained.pth')
    set_resume(cfg, 'iter_4.pth')
    assert start_checkpoint(cfg) == ('resume checkpoint', 'iter_4.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_8.pth'))
    set_resume(cfg, 'auto')
    assert start_checkpoint(cfg) == ('resume checkpoint', str(tmp_path / 'iter_8.pth'))
