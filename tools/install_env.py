"""Create or update rkd's virtual environment: torch, the pinned OpenMMLab stack with mmcv's
compiled ops, the test tools and rkd itself (editable).

Run by the system python (stdlib only: the venv may not exist yet), usually through
`make install`: `python3 tools/install_env.py [--venv .venv]`. A stamp in the venv holds a hash
of the requirement files, pyproject.toml and the installer scripts; when it matches, nothing is
done, so `make test` and `make demo` start at once.
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
STAMP = '.rkd-install-stamp'
MMCV_VERSION = '2.1.0'

# What must hold after every install, whatever a later pip call resolved.
VERIFY = f"""
from importlib.metadata import version
import rkd, mmcv.ops
assert version('mmcv') == '{MMCV_VERSION}', 'mmcv ' + version('mmcv')
assert int(version('numpy').split('.')[0]) < 2, 'numpy ' + version('numpy')
print('rkd', rkd.__version__, '| mmcv', version('mmcv'), '| torch', version('torch'),
      '| numpy', version('numpy'))
"""

# Versions the final pip call must keep: mmcv's `_ext` is bound to the torch build, and a GPU
# user's own torch must not be swapped for the registry's.
PINS = """
from importlib.metadata import PackageNotFoundError, version
for name in ('torch', 'torchvision', 'mmcv'):
    try:
        print(f'{name}=={version(name)}')
    except PackageNotFoundError:
        pass
"""


class InstallError(RuntimeError):
    """A step failed; the message names the step and the command."""


def input_files(root: Path) -> list[Path]:
    """The files whose change requires a new install."""
    return sorted(root.glob('requirements/*.txt')) + [
        root / 'pyproject.toml', root / 'tools' / 'install_env.py', root / 'tools' / 'build_mmcv.py'
    ]


def inputs_hash(root: Path) -> str:
    """sha256 over the names and contents of the input files."""
    digest = hashlib.sha256()
    for path in input_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b'\0')
        digest.update(path.read_bytes() + b'\0')
    return digest.hexdigest()


def is_current(venv: Path, digest: str) -> bool:
    """Whether the venv exists and was completed for exactly these inputs."""
    stamp = venv / STAMP
    return (venv / 'bin' / 'python').exists() and stamp.exists() and stamp.read_text() == digest


@contextmanager
def step(name: str) -> Iterator[None]:
    """Announce a step, time it, and name it if it fails."""
    print(f'[install] {name} ...', flush=True)
    start = time.monotonic()
    try:
        yield
    except subprocess.CalledProcessError as err:
        cmd = ' '.join(str(a) for a in err.cmd)
        raise InstallError(f'step "{name}" failed: `{cmd}` exited with {err.returncode}') from err
    print(f'[install] {name}: done in {time.monotonic() - start:.1f} s', flush=True)


def run(*cmd: str | Path) -> None:
    """Run a command with the output shown; a failure raises CalledProcessError."""
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def output(*cmd: str | Path) -> str:
    """Run a command and return its stdout."""
    return subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, capture_output=True,
                          text=True).stdout


def has_torch(python: Path) -> bool:
    """Whether the venv's torch imports; a pre-installed one (a CUDA build) is kept."""
    return subprocess.run([str(python), '-c', 'import torch'], capture_output=True).returncode == 0


def install(venv: Path) -> None:
    """Every step, in the order the builds need: torch before mmcv's build, setuptools < 82
    (runtime.txt) before it too, mmcv before the packages that require it."""
    python = venv / 'bin' / 'python'
    pip = (python, '-m', 'pip', 'install')
    req = ROOT / 'requirements'
    if not python.exists():
        with step(f'create venv {venv}'):
            run(sys.executable, '-m', 'venv', venv)
    # One call with runtime.txt, so torch's numpy 2 and setuptools >= 82 are never installed.
    torch = () if has_torch(python) else ('-r', req / 'torch.txt')
    with step('install ' + ('torch and ' if torch else '') + 'runtime requirements'):
        run(*pip, *torch, '-r', req / 'runtime.txt')
    with step(f'mmcv {MMCV_VERSION} with compiled ops'):
        run(python, ROOT / 'tools' / 'build_mmcv.py')
    with step('install the OpenMMLab stack and test tools'), tempfile.TemporaryDirectory() as tmp:
        pins = Path(tmp, 'pins.txt')
        pins.write_text(output(python, '-c', PINS))
        run(*pip, '-c', pins, '-r', req / 'runtime.txt', '-r', req / 'mminstall.txt', '-r',
            req / 'tests.txt')
    with step('install rkd (editable)'):
        run(*pip, '--no-deps', '--no-build-isolation', '-e', ROOT)
    with step('verify'):
        run(python, '-c', VERIFY)
        run(python, '-m', 'pip', 'check')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--venv', type=Path, default=ROOT / '.venv',
                        help='the virtual environment to create or update (default: .venv)')
    venv = parser.parse_args(argv).venv.absolute()
    digest = inputs_hash(ROOT)
    if is_current(venv, digest):
        print(f'[install] {venv} is up to date')
        return 0
    (venv / STAMP).unlink(missing_ok=True)
    start = time.monotonic()
    try:
        install(venv)
    except InstallError as err:
        print(f'[install] FAILED: {err}\n[install] fix the cause above and rerun `make install`',
              file=sys.stderr)
        return 1
    (venv / STAMP).write_text(digest)
    print(f'[install] {venv} ready in {time.monotonic() - start:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
