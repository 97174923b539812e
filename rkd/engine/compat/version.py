"""The mmengine versions rkd's workarounds were written for and tested with."""
import warnings
from functools import lru_cache

import mmengine
from mmengine.utils import digit_version

# Every workaround in this package compensates for mmengine behaviour seen in these versions;
# tests/test_engine/test_compat/ fails when an installed mmengine no longer behaves that way.
TESTED_MMENGINE = ('0.10.7', '0.10.7')  # oldest, newest


class UntestedMMEngineWarning(UserWarning):
    """The installed mmengine is outside :data:`TESTED_MMENGINE`."""


@lru_cache(maxsize=None)
def check_mmengine_version(version: str = mmengine.__version__) -> bool:
    """Warn once if ``version`` is outside :data:`TESTED_MMENGINE`; True if it is inside."""
    oldest, newest = TESTED_MMENGINE
    if digit_version(oldest) <= digit_version(version) <= digit_version(newest):
        return True
    warnings.warn(
        f'rkd\'s mmengine workarounds (rkd.engine.compat: safe checkpoint loaders, atomic '
        f'checkpoints, exact resume) were tested with mmengine {oldest} to {newest}, this is '
        f'{version}. Run tests/test_engine/test_compat/ to see which still hold, or install '
        f'mmengine=={newest}.', UntestedMMEngineWarning, stacklevel=2)
    return False
