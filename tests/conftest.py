import pytest
from mmengine.registry import DefaultScope


@pytest.fixture
def mmpretrain_scope():
    """Build models as an mmpretrain config does: default scope mmpretrain, rkd imported."""
    import mmpretrain.models  # noqa: F401  (registers the task's modules)
    import rkd  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield
