"""The pure logic of tools/build_mmcv.py: a wrong key or lookup order would reuse an `_ext` built
for another torch, or compile for half an hour when a wheel was at hand. No network, no compiling.
"""
import importlib.util
import os
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'build_mmcv.py'
spec = importlib.util.spec_from_file_location('build_mmcv', TOOL)
build_mmcv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_mmcv)

KEY = 'py3.11-torch2.14.1+cu130-cpu'


def wheel(path: Path, name: str = 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl') -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_bytes(b'wheel')
    return path / name


@pytest.mark.parametrize('args, key', [
    (('3.11', '2.14.1+cu130', '13.0', 'cpu'), KEY),
    (('3.11', '2.14.1+cu130', '13.0', 'cuda'), 'py3.11-torch2.14.1+cu130-cuda'),
    (('3.11', '2.14.1+cpu', None, 'cpu'), 'py3.11-torch2.14.1+cpu-cpu'),
    (('3.10', '2.14.1', None, 'cpu'), 'py3.10-torch2.14.1-cpu'),
    # a source build of torch names no CUDA in its version: the key must
    (('3.11', '2.14.0a0+git1234', '12.8', 'cuda'), 'py3.11-torch2.14.0a0+git1234-cuda12.8-cuda'),
])
def test_cache_key(args, key):
    assert build_mmcv.cache_key(*args) == key


@pytest.mark.parametrize('torch_cuda, nvcc, gpu, force, kind', [
    ('13.0', True, True, False, 'cuda'),
    ('13.0', True, False, True, 'cuda'),
    ('13.0', True, False, False, 'cpu'),  # this CPU machine: nvcc, CUDA torch, no GPU
    ('13.0', False, True, True, 'cpu'),  # no compiler for the CUDA sources
    (None, True, True, True, 'cpu'),  # a CPU torch cannot run CUDA ops
])
def test_ops_kind(torch_cuda, nvcc, gpu, force, kind):
    assert build_mmcv.ops_kind(torch_cuda, nvcc, gpu, force) == kind


def test_cache_dirs():
    assert build_mmcv.cache_dirs(None) == [Path.home() / '.cache/rkd/mmcv']
    value = os.pathsep.join(['/a', '', '~/b'])
    assert build_mmcv.cache_dirs(value) == [Path('/a'), Path.home() / 'b']


def test_candidates_keyed_first_then_flat(tmp_path):
    cache, shared = tmp_path / 'cache', tmp_path / 'shared'
    flat_cache = wheel(cache)
    keyed_shared = wheel(shared / KEY)
    keyed_cache = wheel(cache / KEY)
    flat_shared = wheel(shared)
    wheel(cache / 'py3.11-torch2.13.0+cpu-cpu')  # another torch: never a candidate
    wheel(shared, 'mmcv-2.2.0-cp311-cp311-linux_x86_64.whl')  # another mmcv
    wheel(shared, 'mmcv_lite-2.1.0-py3-none-any.whl')
    dirs = [tmp_path / 'missing', cache, shared]
    assert build_mmcv.candidates(dirs, KEY) == [keyed_cache, keyed_shared, flat_cache, flat_shared]


def test_candidates_sorted_within_a_folder(tmp_path):
    b = wheel(tmp_path, 'mmcv-2.1.0-cp311-cp311-manylinux_x86_64.whl')
    a = wheel(tmp_path, 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl')
    assert build_mmcv.candidates([tmp_path], KEY) == [a, b]


def test_candidates_none(tmp_path):
    assert build_mmcv.candidates([tmp_path / 'missing'], KEY) == []


def test_patch_setup_py_moves_every_cxx17_flag_to_cxx20():
    text = ("extra_compile_args['cxx'] = ['-std=c++14']\n"
            "extra_compile_args['cxx'] = ['-std=c++17']\n"
            "extra_compile_args['nvcc'] += ['-std=c++17']\n")
    patched = build_mmcv.patch_setup_py(text)
    assert '-std=c++17' not in patched
    assert patched.count('-std=c++20') == 2
    assert "['-std=c++14']" in patched  # torch <= 1.12 branches stay as they were


def test_patch_setup_py_fails_when_the_flag_is_gone():
    with pytest.raises(build_mmcv.BuildError, match='c\\+\\+17'):
        build_mmcv.patch_setup_py("extra_compile_args['cxx'] = ['-std=c++20']\n")


def test_build_env_cpu_hides_gpus_and_drops_force_cuda(monkeypatch):
    monkeypatch.setenv('FORCE_CUDA', '1')
    env = build_mmcv.build_env('cpu')
    assert env['MMCV_WITH_OPS'] == '1' and int(env['MAX_JOBS']) >= 1
    assert 'FORCE_CUDA' not in env and env['CUDA_VISIBLE_DEVICES'] == ''


def test_build_env_cuda(monkeypatch):
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    env = build_mmcv.build_env('cuda')
    assert env['FORCE_CUDA'] == '1' and 'CUDA_VISIBLE_DEVICES' not in env


def test_store_writes_the_whole_wheel_under_the_key(tmp_path):
    built = wheel(tmp_path / 'build')
    cached = build_mmcv.store(built, [tmp_path / 'cache'], KEY)
    assert cached == tmp_path / 'cache' / KEY / built.name
    assert cached.read_bytes() == b'wheel'
    assert os.listdir(cached.parent) == [built.name]  # no temporary file left


def test_store_skips_an_unwritable_folder(tmp_path):
    built = wheel(tmp_path / 'build')
    not_a_dir = tmp_path / 'file'
    not_a_dir.write_text('')
    cached = build_mmcv.store(built, [not_a_dir, tmp_path / 'cache'], KEY)
    assert cached == tmp_path / 'cache' / KEY / built.name
    assert build_mmcv.store(built, [not_a_dir], KEY) is None
