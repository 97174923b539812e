"""ValRandomStateHook: whether validation ran never changes the training after it."""
import pytest
import torch
from test_engine.test_compat.test_random_state import train


@pytest.mark.parametrize('val_hook', [True, False])
def test_validation_leaves_the_training_draws_as_they_were(tmp_path, val_hook):
    """The validation data draws from the global generators (as a random test transform would):
    with the hook, a run validated every epoch trains the weights of one never validated."""
    validated = train(tmp_path / 'a', dict(by_epoch=True, max_epochs=2, val_interval=1),
                      val_hook=val_hook)
    unvalidated = train(tmp_path / 'b', dict(by_epoch=True, max_epochs=2, val_interval=10),
                        val_hook=val_hook)
    same = all(torch.equal(weight, unvalidated[name]) for name, weight in validated.items())
    assert same == val_hook
