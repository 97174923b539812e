"""The fast forms of ReviewKD's connector and loss, and the one switch between the forms.

The public modules (:mod:`rkd.models.connectors.abf`, :mod:`rkd.models.losses.hcl_loss`) hold
the method as the paper states it; this package computes the same functions on the same
parameters, faster and with less memory, and is reached through one call from each:
:func:`abf_forward` and :func:`hcl_level`.
"""
import difflib

from .abf import abf_forward
from .hcl import hcl_level

# 'fast': this package; 'reference': the literal forms, the oracle of its tests; 'compiled': the
# literal forms through torch.compile.
IMPLS = ('fast', 'reference', 'compiled')


def check_impl(impl: str, owner: str) -> str:
    """``impl`` when it names a form, else a ValueError listing the forms."""
    if impl not in IMPLS:
        close = difflib.get_close_matches(str(impl), IMPLS, n=1)
        hint = f' (did you mean {close[0]!r}?)' if close else ''
        raise ValueError(f'{owner} impl must be one of {IMPLS}, got {impl!r}{hint}')
    return impl


__all__ = ['IMPLS', 'abf_forward', 'check_impl', 'hcl_level']
