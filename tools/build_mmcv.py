"""Ensure mmcv 2.1.0 with compiled ops is installed for the torch of this environment.

mmdet 3.3 and mmseg 1.2 need mmcv < 2.2 with its compiled `_ext`, and mmcv 2.1.0 exists on the
registry only as an sdist whose `_ext` is bound to the exact torch build. So this script reuses a
wheel from a cache (keyed by python, torch and ops kind) or a wheel folder, and otherwise builds
one from the sdist (20-35 minutes on 2 cores) and caches it.

Run it with the environment's python: `.venv/bin/python tools/build_mmcv.py [--dry-run]`.
Cache folders: RKD_MMCV_CACHE, an os.pathsep-separated list, default ~/.cache/rkd/mmcv.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MMCV_VERSION = '2.1.0'
WHEEL_GLOB = f'mmcv-{MMCV_VERSION}-*.whl'
DEFAULT_CACHE = '~/.cache/rkd/mmcv'

# Run in a fresh interpreter: a broken `_ext` can crash the process, and a wheel installed by
# this process would not be re-imported here. argv[1] is the ops kind the build must have.
OPS_CHECK = f"""
import sys
from importlib.metadata import version
assert version('mmcv') == '{MMCV_VERSION}', 'mmcv ' + version('mmcv')
import torch
from mmcv.ops import get_compiling_cuda_version, nms
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
scores = torch.tensor([0.9, 0.8, 0.7])
assert nms(boxes, scores, 0.5)[1].tolist() == [0, 2]
if sys.argv[1] == 'cuda':
    assert get_compiling_cuda_version() != 'not available', 'mmcv built without CUDA ops'
    if torch.cuda.is_available():
        assert nms(boxes.cuda(), scores.cuda(), 0.5)[1].tolist() == [0, 2]
"""


class BuildError(RuntimeError):
    """A step failed in a way the user has to fix; the message says which."""


def cache_key(python: str, torch_version: str, torch_cuda: str | None, ops: str) -> str:
    """Name the build an `_ext` is valid for, e.g. `py3.11-torch2.14.1+cu130-cpu`.

    torch's local tag (+cu130) normally names its CUDA; a source build of torch may lack the
    tag, so the CUDA version is added then.
    """
    parts = [f'py{python}', f'torch{torch_version}']
    if torch_cuda and f"cu{torch_cuda.replace('.', '')}" not in torch_version:
        parts.append(f'cuda{torch_cuda}')
    parts.append(ops)
    return '-'.join(parts)


def ops_kind(torch_cuda: str | None, nvcc: bool, cuda_available: bool, force_cuda: bool) -> str:
    """CUDA ops need a CUDA torch, nvcc, and a GPU or FORCE_CUDA=1 (the same rule as setup.py)."""
    return 'cuda' if torch_cuda and nvcc and (cuda_available or force_cuda) else 'cpu'


def cache_dirs(value: str | None) -> list[Path]:
    """The folders of RKD_MMCV_CACHE in order; empty entries are ignored."""
    entries = [e for e in (value or DEFAULT_CACHE).split(os.pathsep) if e]
    return [Path(e).expanduser() for e in entries]


def candidates(dirs: list[Path], key: str) -> list[Path]:
    """Wheels to try, best first: every keyed wheel (built for exactly this torch), then the
    unkeyed wheels lying flat in a folder (a supplied prebuilt wheel), which must prove
    themselves by the ops check. Missing folders yield nothing."""
    keyed = [w for d in dirs for w in sorted((d / key).glob(WHEEL_GLOB))]
    flat = [w for d in dirs for w in sorted(d.glob(WHEEL_GLOB))]
    return keyed + flat


def patch_setup_py(text: str) -> str:
    """Compile with C++20: torch >= 2.10 headers fail under mmcv's hard-coded `-std=c++17`
    ("#error C++20 or later compatible compiler is required to use ATen"). C++20 is harmless
    for older torch. Raises if the flag is gone, so an upstream change is noticed."""
    if '-std=c++17' not in text:
        raise BuildError('mmcv setup.py has no -std=c++17 to patch; check the build flags')
    return text.replace('-std=c++17', '-std=c++20')


def find_nvcc() -> str | None:
    """nvcc on PATH or under CUDA_HOME, the places torch's extension builder looks."""
    cuda_home = os.environ.get('CUDA_HOME') or os.environ.get('CUDA_PATH')
    under_home = Path(cuda_home, 'bin', 'nvcc') if cuda_home else None
    if under_home and under_home.is_file():
        return str(under_home)
    return shutil.which('nvcc')


def current_key() -> tuple[str, str]:
    """The cache key and ops kind for this interpreter's torch."""
    import torch

    kind = ops_kind(torch.version.cuda, find_nvcc() is not None, torch.cuda.is_available(),
                    os.environ.get('FORCE_CUDA') == '1')
    python = f'{sys.version_info.major}.{sys.version_info.minor}'
    return cache_key(python, torch.__version__, torch.version.cuda, kind), kind


def pip(*args: str, env: dict[str, str] | None = None) -> None:
    """Run this environment's pip; a failure raises CalledProcessError."""
    subprocess.run([sys.executable, '-m', 'pip', *args], check=True, env=env)


def ops_ok(kind: str) -> bool:
    """Whether the installed mmcv is 2.1.0 and its ops of `kind` run."""
    result = subprocess.run([sys.executable, '-c', OPS_CHECK, kind], capture_output=True,
                            text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ['(no output)'])[-1]
        print(f'[build_mmcv] no working mmcv {MMCV_VERSION} with {kind} ops: {last}')
    return result.returncode == 0


def install_wheel(wheel: Path) -> None:
    """Install `wheel` over any mmcv, then add the dependencies mmcv imports (mmengine, ...):
    the installed mmcv 2.1.0 satisfies the second call, so pip only fills in what is missing."""
    pip('install', '--no-deps', '--force-reinstall', str(wheel))
    pip('install', f'mmcv=={MMCV_VERSION}')


def install_from(wheels: list[Path], kind: str) -> Path | None:
    """Install the first wheel that passes the ops check; uninstall each that does not."""
    for wheel in wheels:
        print(f'[build_mmcv] trying {wheel}')
        try:
            install_wheel(wheel)
        except subprocess.CalledProcessError:
            print(f'[build_mmcv] could not install {wheel}')
            continue
        if ops_ok(kind):
            return wheel
        pip('uninstall', '-y', 'mmcv')
    return None


def build_env(kind: str) -> dict[str, str]:
    """Environment for setup.py: ops on, all cores, CUDA only when chosen. For CPU ops GPUs are
    hidden, since setup.py builds CUDA ops whenever it sees one."""
    env = dict(os.environ, MMCV_WITH_OPS='1', MAX_JOBS=str(len(os.sched_getaffinity(0))))
    env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])
    env.pop('FORCE_CUDA', None)
    if kind == 'cuda':
        env['FORCE_CUDA'] = '1'
    else:
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env


def build_wheel(kind: str, workdir: Path) -> Path:
    """Download the sdist, patch setup.py and build a wheel in `workdir`."""
    env = build_env(kind)
    if shutil.which('ninja', path=env['PATH']) is None:
        pip('install', 'ninja')  # without it torch compiles one file at a time
    # No build isolation, even to download: pip prepares the sdist's metadata, and an isolated
    # env has neither torch (setup.py would skip the ops) nor a setuptools with pkg_resources.
    pip('download', '--no-deps', '--no-binary', ':all:', '--no-build-isolation',
        '-d', str(workdir), f'mmcv=={MMCV_VERSION}')
    shutil.unpack_archive(workdir / f'mmcv-{MMCV_VERSION}.tar.gz', workdir)
    src = workdir / f'mmcv-{MMCV_VERSION}'
    setup_py = src / 'setup.py'
    setup_py.write_text(patch_setup_py(setup_py.read_text()))
    dist = workdir / 'dist'
    pip('wheel', '-v', '--no-deps', '--no-build-isolation', '-w', str(dist), str(src), env=env)
    wheels = sorted(dist.glob(WHEEL_GLOB))
    if not wheels:
        raise BuildError(f'pip wheel produced no {WHEEL_GLOB} in {dist}')
    return wheels[0]


def store(wheel: Path, dirs: list[Path], key: str) -> Path | None:
    """Copy `wheel` to `<first writable folder>/<key>/`. The copy gets a temporary name and is
    renamed when complete, so the cache never holds half a wheel."""
    for folder in dirs:
        target = folder / key / wheel.name
        tmp = target.with_name(f'.{wheel.name}.{os.getpid()}.tmp')
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(wheel, tmp)
            os.replace(tmp, target)
            return target
        except OSError as err:
            if tmp.exists():
                tmp.unlink()
            print(f'[build_mmcv] cannot cache in {folder}: {err}')
    return None


def dry_run(key: str, kind: str, dirs: list[Path]) -> None:
    """Show where wheels are looked for, without installing anything."""
    print(f'key: {key}\nops: {kind}\nlookup order:')
    for d in dirs:
        print(f'  {d / key / WHEEL_GLOB}' + ('' if (d / key).is_dir() else '  (missing)'))
    for d in dirs:
        print(f'  {d / WHEEL_GLOB}  (unkeyed, ops check decides)'
              + ('' if d.is_dir() else '  (missing)'))
    found = candidates(dirs, key)
    print('candidates:' + ''.join(f'\n  {w}' for w in found) if found else 'candidates: none')
    print(f'a build would be cached under: {dirs[0] / key} (or the next writable folder)')


def ensure(force_build: bool) -> None:
    """Keep a working mmcv, else install a cached wheel, else build, check and cache one."""
    key, kind = current_key()
    dirs = cache_dirs(os.environ.get('RKD_MMCV_CACHE'))
    print(f'[build_mmcv] key {key}')
    if not force_build:
        if ops_ok(kind):
            print(f'[build_mmcv] mmcv {MMCV_VERSION} with {kind} ops already works')
            return
        wheel = install_from(candidates(dirs, key), kind)
        if wheel:
            print(f'[build_mmcv] installed {wheel}')
            return
    print(f'[build_mmcv] no matching wheel: building mmcv {MMCV_VERSION} ({kind} ops); '
          'this takes 20-35 minutes on 2 cores')
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='rkd-mmcv-') as tmp:
        wheel = build_wheel(kind, Path(tmp))
        install_wheel(wheel)
        if not ops_ok(kind):
            raise BuildError(f'the freshly built {wheel.name} fails the ops check')
        cached = store(wheel, dirs, key)
    minutes = (time.monotonic() - start) / 60
    print(f'[build_mmcv] built and installed in {minutes:.1f} min; wheel cached at '
          f'{cached or "nowhere (no writable cache folder)"}')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dry-run', action='store_true',
                        help='print the cache key and where wheels are looked for')
    parser.add_argument('--force-build', action='store_true',
                        help='build from source without looking for a wheel')
    args = parser.parse_args(argv)
    if args.dry_run:
        dry_run(*current_key(), cache_dirs(os.environ.get('RKD_MMCV_CACHE')))
        return 0
    try:
        ensure(args.force_build)
    except (BuildError, subprocess.CalledProcessError) as err:
        print(f'[build_mmcv] FAILED: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
