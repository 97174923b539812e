import pytest
import torch
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True, scope='session')
def one_thread():
    """Tests run tiny tensors: a second intra-op thread only adds waits, long ones on a busy
    2-core CI machine (seen: 3 s instead of 0.04 s for a small convolution test)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def isolated_default_scope():
    """Tools run in-process build Runners, which make their scope the current default scope of
    the whole process; later tests would build in it (e.g. 'mmengine', where rkd's modules are
    not). Each test starts from the scopes the previous one found."""
    scopes = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(scopes)


@pytest.fixture
def mmpretrain_scope():
    """Build models as an mmpretrain config does: default scope mmpretrain, rkd imported."""
    import mmpretrain.models  # noqa: F401  (registers the task's modules)

    import rkd  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield
