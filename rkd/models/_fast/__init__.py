"""The fast forms of ReviewKD's connector and loss, and the one switch between the forms.

The public modules (:mod:`rkd.models.connectors.abf`, :mod:`rkd.models.losses.hcl_loss`) hold
the method as the paper states it; this package computes the same functions on the same
parameters, faster and with less memory, and is reached through one call from each:
:meth:`ABF.fast_forward` (:func:`abf_forward`) and :func:`hcl_level`. Each of the two modules
picks its form once, when its ``impl`` is set, with :func:`choose_form`.
"""
import difflib
from typing import Mapping, Optional, Tuple, TypeVar

from mmengine.logging import print_log

from .abf import ABFParts, abf_forward
from .hcl import hcl_level
from .measured_forms import default_form

# What each form is, as the build log says it.
FORMS = {
    'fast': 'the reference\'s function on the same parameters, with less memory and time',
    'reference': 'the paper\'s equations literally, the oracle of the fast form\'s tests',
    'compiled': 'the reference through torch.compile, compiled at its first call',
}
# 'auto': the form measured fastest on this kind of device (see .measured_forms).
IMPLS = (*FORMS, 'auto')

Form = TypeVar('Form')


def choose_form(owner: str, impl: str, forms: Mapping[str, Form],
                notes: Optional[Mapping[str, str]] = None) -> Tuple[str, Form]:
    """The name of the form ``impl`` runs and that form from ``forms``, logged with why it runs
    and what it is (and ``notes[name]`` if any); a ValueError listing the forms for an unknown
    ``impl``. ``'auto'`` is the default form of this kind of device (:func:`default_form`); a
    named form always runs."""
    if impl not in IMPLS:
        close = difflib.get_close_matches(str(impl), IMPLS, n=1)
        hint = f' (did you mean {close[0]!r}?)' if close else ''
        raise ValueError(f'{owner} impl must be one of {IMPLS}, got {impl!r}{hint}')
    form, why = default_form() if impl == 'auto' else (impl, 'named by impl')
    note = f'; {notes[form]}' if notes and form in notes else ''
    print_log(f'{owner} runs its {form} form (impl={impl!r}): {why}; {FORMS[form]}{note}.',
              logger='current')
    return form, forms[form]


__all__ = [
    'ABFParts', 'FORMS', 'IMPLS', 'abf_forward', 'choose_form', 'default_form', 'hcl_level'
]
