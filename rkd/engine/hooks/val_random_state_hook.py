"""Validation that leaves the training run's random draws as they were."""
from typing import Optional

from mmengine.hooks import Hook

from rkd.engine.compat.random_state import get_random_state, set_random_state
from rkd.registry import HOOKS


@HOOKS.register_module()
class ValRandomStateHook(Hook):
    """Puts the generators of python, numpy and torch back after each validation, as they were
    before it.

    Validation draws from the global generators (random augmentation in a test pipeline,
    dropout in a model left in train mode, a sampler), so without this hook the training after
    it depends on whether, and how often, it ran: a run resumed from a checkpoint written before
    a validation would not replay it, and ``val_interval`` would change the trained weights.
    """

    priority = 'VERY_HIGH'  # stash before any other hook of the validation draws

    def __init__(self) -> None:
        self._state: Optional[dict] = None

    def before_val(self, runner) -> None:
        self._state = get_random_state()

    def after_val(self, runner) -> None:
        if self._state is not None:
            set_random_state(self._state)
            self._state = None
