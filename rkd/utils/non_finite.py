"""Naming what is NaN or infinite: the guard's messages and the refusal to save it."""
from typing import Iterable, List, Tuple

import torch
from torch import Tensor


class NonFiniteError(RuntimeError):
    """A loss, gradient or weight of the run holds NaN or infinity; the run stops."""


def non_finite_names(named_tensors: Iterable[Tuple[str, object]]) -> List[str]:
    """Names of the floating-point tensors that hold a NaN or an infinity."""
    named = [(name, t) for name, t in named_tensors
             if isinstance(t, Tensor) and t.is_floating_point() and t.numel()]
    if not named:
        return []
    finite = torch.stack([torch.isfinite(t).all() for _, t in named]).tolist()
    return [name for (name, _), ok in zip(named, finite) if not ok]


def few(names: List[str], total: int, noun: str, shown: int = 5) -> str:
    """``'3 of 120 tensors: a, b, c'``: how many, and the first names."""
    more = ', ...' if len(names) > shown else ''
    return f'{len(names)} of {total} {noun}: {", ".join(names[:shown])}{more}'
