"""Soak: a ReviewKD run's process holds as much after 100 iterations as after 25: no tensor,
recorded map or autograd graph accumulates across steps, and resident memory stays flat."""
import pytest
import torch
from test_tools.test_faults import digits_config

from rkd.analysis.soak import ResidentMemoryHook, resident_bytes, soak
from rkd.apis import build_runner


@pytest.mark.slow
def test_nothing_accumulates_across_steps(tmp_path):
    cfg = digits_config(tmp_path / 'work')  # 20 images in batches of 4, validation at the end
    cfg.default_hooks.checkpoint.interval = 25
    result = soak(cfg, iters=100, start_iter=25)
    print(result.report())
    assert (result.start.iteration, result.end.iteration) == (25, 100)
    assert result.end.live_tensors <= result.start.live_tensors
    assert result.growth < 0.05, result.report()
    assert 'RSS growth' in result.report()


def test_a_tensor_kept_each_step_is_seen(tmp_path):
    """The readings would catch a leak: a hook that keeps each step's loss graph."""
    kept = []

    class Leak(ResidentMemoryHook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            # 32 MiB a step, written: untouched zeros may never become resident, and a
            # small block may reuse what the step freed
            kept.append(torch.ones(2**23))
            super().after_train_iter(runner, batch_idx, data_batch, outputs)

    hook = Leak(start_iter=2)
    cfg = digits_config(tmp_path / 'work', max_iters=6, val_dataloader=None, val_cfg=None,
                        val_evaluator=None)
    runner = build_runner(cfg)
    runner.register_hook(hook)
    runner.train()
    start, end = hook.readings['start'], hook.readings['end']
    assert end.live_tensors - start.live_tensors == 4
    assert end.resident_bytes - start.resident_bytes > 8 * 2**20 and resident_bytes() > 0
