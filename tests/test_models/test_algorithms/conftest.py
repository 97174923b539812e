import pytest
from mmengine.registry import DefaultScope


@pytest.fixture
def mmdet_scope():
    """Build models as an mmdet config does: default scope mmdet, rkd imported."""
    import mmdet.models  # noqa: F401  (registers the task's modules)

    import rkd  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


@pytest.fixture
def mmseg_scope():
    """Build models as an mmseg config does: default scope mmseg, rkd imported."""
    import mmseg.models  # noqa: F401

    import rkd  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield
