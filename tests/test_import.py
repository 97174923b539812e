import subprocess
import sys

# Any import of these raises ImportError in the child process.
BLOCK = 'import sys\nfor name in ("mmdet", "mmseg", "sklearn"):\n    sys.modules[name] = None\n'


def test_rkd_imports_without_mmdet_mmseg_and_sklearn():
    """Machines with mmcv-lite (no compiled ops) have no working mmdet/mmseg: rkd's core, the
    algorithm and the classification parts must import there. scikit-learn is the digits
    dataset's alone."""
    code = BLOCK + 'import rkd\nfrom rkd.models.algorithms import SingleTeacherDistill\n'
    subprocess.run([sys.executable, '-c', code], check=True, timeout=120)
