"""RandomStateHook (with ValRandomStateHook): a run resumed from any of its checkpoints ends
where the uninterrupted run ends, bitwise, on a toy model whose data and forward draw from
python, numpy and torch."""
import hashlib
import inspect
import random
import uuid

import numpy as np
import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import CheckpointHook
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from rkd.engine.compat import install_safe_loaders
from rkd.engine.compat.random_state import CHECKPOINT_KEY, get_random_state, set_random_state
from rkd.engine.hooks import RandomStateHook, ValRandomStateHook

BATCHES_PER_EPOCH = 5


class AugmentedPoints(Dataset):
    """Random augmentation from every global generator, as transforms do."""

    def __len__(self) -> int:
        return 4 * BATCHES_PER_EPOCH

    def __getitem__(self, index: int) -> dict:
        point = torch.full((4, ), index / len(self))
        noise = np.random.rand(4) + random.random() + torch.rand(4).numpy()
        return dict(inputs=point + torch.from_numpy(noise).float(), target=float(index % 2))


class DropoutRegressor(BaseModel):
    """Dropout in the forward: the model draws from torch's generator too."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 1))

    def forward(self, inputs, target, mode='tensor'):
        outputs = self.layer(inputs).squeeze(1)
        if mode == 'loss':
            return dict(loss=((outputs - target)**2).mean())
        return [dict(error=(outputs - target).abs().mean())]


class MeanError(BaseMetric):

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(float(sample['error']) for sample in data_samples)

    def compute_metrics(self, results) -> dict:
        return dict(error=sum(results) / len(results))


def train(work_dir, loop: dict, resume_from=None, hook=True, seed=3, batch_size=4,
          val_hook=None) -> dict:
    """Train the toy model with checkpoints every 2 iterations; return its final weights.
    ``hook``: with RandomStateHook; ``val_hook`` (default: as ``hook``) ValRandomStateHook."""
    from mmengine.runner import Runner
    loader = dict(dataset=AugmentedPoints(), batch_size=batch_size, num_workers=0,
                  collate_fn=dict(type='default_collate'),
                  sampler=dict(type='DefaultSampler', shuffle=True))
    val = dict(val_dataloader={**loader, 'sampler': dict(type='DefaultSampler', shuffle=False)},
               val_cfg=dict(), val_evaluator=[MeanError()])
    install_safe_loaders()  # the Runner resumes through mmengine's loader, as in tools/train.py
    torch.manual_seed(0)  # the same initial weights in every run
    runner = Runner(
        model=DropoutRegressor(), work_dir=str(work_dir), experiment_name=uuid.uuid4().hex,
        train_dataloader=loader, train_cfg={'val_interval': 1, **loop}, **val,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[RandomStateHook()] * hook + [ValRandomStateHook()] * (
            hook if val_hook is None else val_hook),
        randomness=dict(seed=seed), log_level='WARNING',
        resume=resume_from is not None, load_from=resume_from)
    runner.train()
    return runner.model.state_dict()


EPOCHS = dict(by_epoch=True, max_epochs=3)  # validation at each epoch's end
ITERS = dict(by_epoch=False, max_iters=12, val_interval=5)


@pytest.mark.parametrize('loop, checkpoint, seed', [
    (EPOCHS, 'iter_4.pth', 3),     # mid-epoch
    (EPOCHS, 'iter_4.pth', None),  # a seed drawn at start: the resumed run draws another one
    (EPOCHS, 'iter_10.pth', 3),    # the last batch of an epoch, before its validation
    (ITERS, 'iter_6.pth', 3),      # after a validation, in the loader's second pass
])
def test_resume_equals_uninterrupted(tmp_path, loop, checkpoint, seed):
    """A run resumed from a checkpoint of an uninterrupted run ends with that run's weights."""
    uninterrupted = train(tmp_path / 'a', loop, seed=seed)
    resumed = train(tmp_path / 'b', loop, str(tmp_path / 'a' / checkpoint), seed=seed)
    for name, weight in uninterrupted.items():
        assert torch.equal(weight, resumed[name]), name


def test_without_hook_the_resume_drifts(tmp_path):
    """The failure the hook fixes (the test above could not pass by accident)."""
    uninterrupted = train(tmp_path / 'a', EPOCHS, hook=False)
    resumed = train(tmp_path / 'b', EPOCHS, str(tmp_path / 'a' / 'iter_4.pth'), hook=False)
    assert not torch.equal(uninterrupted['layer.0.weight'], resumed['layer.0.weight'])


def test_state_is_plain_data_for_the_safe_loader(tmp_path):
    train(tmp_path / 'a', EPOCHS)
    # the rest of an mmengine checkpoint needs an allow-list (its message hub): not this part
    state = torch.load(tmp_path / 'a' / 'iter_4.pth', weights_only=False)[CHECKPOINT_KEY]
    torch.save(state, tmp_path / 'state.pth')
    state = torch.load(tmp_path / 'state.pth', weights_only=True)
    assert state['batches_per_epoch'] == BATCHES_PER_EPOCH and state['sampler_seed'] == 3
    assert [generators['torch'].dtype for generators in state['generators']] == [torch.uint8]


def test_get_and_set_random_state_round_trip():
    state = get_random_state()
    draws = random.random(), np.random.rand(), torch.rand(1)
    np.random.randn()  # a cached gaussian is part of numpy's state
    set_random_state(state)
    assert (random.random(), np.random.rand()) == draws[:2]
    assert torch.equal(torch.rand(1), draws[2])


def test_checkpoint_without_the_state_resumes_with_a_warning(tmp_path):
    train(tmp_path / 'a', EPOCHS, hook=False)
    weights = train(tmp_path / 'b', EPOCHS, str(tmp_path / 'a' / 'iter_4.pth'))
    log = next((tmp_path / 'b').glob('*/*.log')).read_text()
    assert 'random state of the data augmentation is not restored' in log
    assert all(torch.isfinite(weight).all() for weight in weights.values())


def test_another_batch_size_resumes_with_a_warning(tmp_path):
    train(tmp_path / 'a', EPOCHS)
    train(tmp_path / 'b', EPOCHS, str(tmp_path / 'a' / 'iter_4.pth'), batch_size=2)
    log = next((tmp_path / 'b').glob('*/*.log')).read_text()
    assert 'written with 5 batches an epoch on 1 process(es), this run has 10 on 1' in log


def test_the_mmengine_internals_the_hook_relies_on_are_there():
    """Fails when mmengine changes what RandomStateHook reaches into."""
    from mmengine.dataset import InfiniteSampler
    from mmengine.runner import IterBasedTrainLoop, Runner
    from mmengine.runner.loops import _InfiniteDataloaderIterator
    loop_init = inspect.getsource(IterBasedTrainLoop.__init__)
    assert 'self.dataloader_iterator = _InfiniteDataloaderIterator(' in loop_init
    assert callable(_InfiniteDataloaderIterator)
    assert callable(InfiniteSampler._indices_of_rank)
    assert 'seed=seed' in inspect.getsource(Runner.build_dataloader)  # worker_init_fn's partial
    # when CheckpointHook saves: the hook gathers every process's generators just before
    for method, digest in [('after_train_iter', '38455611f8a94441'),
                           ('after_train_epoch', '2130891b986311c9')]:
        source = inspect.getsource(getattr(CheckpointHook, method))
        assert hashlib.sha256(source.encode()).hexdigest()[:16] == digest, method


def test_a_checkpoint_with_the_first_process_generators_only_resumes_exactly(tmp_path):
    """The format written before every process's generators were saved: one dict."""
    uninterrupted = train(tmp_path / 'a', EPOCHS)
    checkpoint = torch.load(tmp_path / 'a' / 'iter_4.pth', weights_only=False)
    checkpoint[CHECKPOINT_KEY]['generators'] = checkpoint[CHECKPOINT_KEY]['generators'][0]
    torch.save(checkpoint, tmp_path / 'old.pth')
    resumed = train(tmp_path / 'b', EPOCHS, str(tmp_path / 'old.pth'))
    for name, weight in uninterrupted.items():
        assert torch.equal(weight, resumed[name]), name
