import pytest
from mmengine.logging import MessageHub

from rkd.models.distillers import LinearWarmup
from rkd.registry import MODELS


def distiller(**warmup) -> dict:
    return dict(type='rkd.ReviewKDDistiller', student_recorders=['backbone'],
                teacher_recorders=['backbone'], warmup=warmup)


@pytest.mark.parametrize('length', [0, -3, 2.5, '20', None, True])
def test_bad_length_is_refused_when_the_distiller_is_built(length):
    with pytest.raises(ValueError, match=r'warm-up length must be a positive int.*got '
                       + repr(length).replace('.', r'\.')):
        MODELS.build(distiller(length=length))


@pytest.mark.parametrize('by_epoch', ['yes', 1, None])
def test_bad_by_epoch_is_refused(by_epoch):
    with pytest.raises(ValueError, match=r'by_epoch must be True .* or False .*got'):
        MODELS.build(distiller(length=20, by_epoch=by_epoch))


def test_factor_ramps_over_the_iterations():
    warmup = LinearWarmup(length=4, by_epoch=False)
    hub = MessageHub.get_current_instance()
    old = hub.get_info('iter')
    try:
        factors = []
        for it in (0, 1, 4, 9):
            hub.update_info('iter', it)
            factors.append(warmup.factor())
    finally:
        hub.update_info('iter', old)
    assert factors == [0.0, 0.25, 1.0, 1.0]


@pytest.mark.parametrize('warmup, message', [
    (dict(lenght=20), r"Unknown warm-up key\(s\) 'lenght' \(did you mean 'length'\?\): it takes "
                      r"\('length', 'by_epoch'\)"),
    (dict(by_epoch=True), r'warmup needs a length'),
    (20, r'warmup must be a dict such as dict\(length=20, by_epoch=True\).*got int 20'),
])
def test_bad_warmup_dicts_are_named(warmup, message):
    with pytest.raises(ValueError, match=message):
        MODELS.build(dict(distiller(), warmup=warmup))


@pytest.mark.parametrize('warmup', [None, dict()])
def test_no_warmup(warmup):
    assert MODELS.build(dict(distiller(), warmup=warmup)).warmup is None
