"""The version guard: silent inside the tested mmengine range, a warning outside it."""
import mmengine
import pytest
from mmengine.utils import digit_version

from rkd.engine.compat import TESTED_MMENGINE, UntestedMMEngineWarning, check_mmengine_version


def test_the_installed_mmengine_is_the_tested_one():
    """Fails after an mmengine upgrade: run this folder's tests, adapt or drop the workarounds
    they show obsolete, then widen TESTED_MMENGINE."""
    oldest, newest = TESTED_MMENGINE
    assert digit_version(oldest) <= digit_version(mmengine.__version__) <= digit_version(newest)
    assert check_mmengine_version(mmengine.__version__)


@pytest.mark.parametrize('version', ['0.9.1', '0.11.0', '1.0.0'])
def test_an_untested_mmengine_is_warned_about(version):
    with pytest.warns(UntestedMMEngineWarning, match=f'this is {version}'):
        assert not check_mmengine_version(version)
