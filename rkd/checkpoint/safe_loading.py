"""Checkpoint loading that never runs code stored in the file.

torch's safe unpickler (``torch.load(weights_only=True)``) builds tensors and plain containers
only, and calls nothing it was not told to trust. mmengine 0.10.7 checkpoints need three kinds of
globals beyond that: numpy arrays and dtypes, its message hub's ``HistoryBuffer``, and
``builtins.getattr``, because ``HistoryBuffer.__getstate__`` stores its statistics methods, which
protocol 2 pickles as ``getattr(HistoryBuffer, 'mean')``. A real ``getattr`` would let a file reach
any object (``getattr(getattr, '__self__')`` is the builtins module), so rkd trusts neither it nor
the real class:

- ``builtins.getattr`` resolves to :func:`_history_buffer_method`, which yields only
  ``HistoryBuffer``'s own statistics methods;
- ``HistoryBuffer`` resolves to :class:`_CheckedHistoryBuffer`, which accepts only a buffer's own
  fields and then becomes a plain ``HistoryBuffer``, a type the unpickler will not build again.

These globals are trusted inside one load only (``torch.serialization.safe_globals``), never for
the whole process (the ``HistoryBuffer`` pickles are mmengine 0.10.7's format; see
``rkd.engine.compat``). rkd's own loads (teacher, test, export) call :func:`safe_load_checkpoint`;
the Runner's (``--resume``, ``load_from``, pretrained ``init_cfg``) go through mmengine's
``CheckpointLoader``, in which rkd's entry points install these loaders
(:func:`rkd.engine.compat.install_safe_loaders`): mmengine's own URL loader unpickles with
``weights_only=False``; rkd's never does.
"""
import contextlib
import importlib
import os
import os.path as osp
import pickle
import socket
from contextvars import ContextVar
from typing import Any, Callable, Dict, Iterator, List, Optional
from urllib.error import URLError
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.logging import HistoryBuffer
from mmengine.runner import checkpoint as mmengine_checkpoint

# The role of each file being loaded (e.g. 'teacher checkpoint'), for error messages.
_ROLES: ContextVar[Dict[str, str]] = ContextVar('rkd_checkpoint_roles', default={})
DEFAULT_ROLE = 'checkpoint'

# What torch's safe unpickler says when a file asks for something it does not trust.
_UNTRUSTED_MARKERS = ('Unsupported global', 'unrecognized function', 'Can only build',
                      'Can only create new object', 'is blocked', 'rkd refused')


# The statistics every HistoryBuffer has (it registers them lazily, in its first __init__).
_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


class CheckpointLoadError(RuntimeError):
    """A checkpoint that rkd cannot, or will not, load."""


class UnsafeCheckpointError(CheckpointLoadError):
    """A checkpoint whose loading would run code or build objects that are not plain data."""


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """``getattr`` as the checkpoints of mmengine's message hub use it, and no other way."""
    if owner is _CheckedHistoryBuffer and name in {*_DEFAULT_STATISTICS,
                                                   *HistoryBuffer._statistics_methods}:
        method = getattr(HistoryBuffer, name, None)
        if callable(method):
            return method
    raise pickle.UnpicklingError(
        f'rkd refused getattr({owner!r}, {name!r}): only the statistics methods of mmengine\'s '
        'HistoryBuffer may be named this way in a checkpoint.')


class _CheckedHistoryBuffer(HistoryBuffer):
    """What a checkpoint's ``HistoryBuffer`` is unpickled as: its state is checked field by field,
    then the object becomes a real ``HistoryBuffer``."""

    _FIELDS = {'max_length', '_log_history', '_count_history', 'statistics_methods'}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not set(state) <= self._FIELDS:
            raise pickle.UnpicklingError(
                f'rkd refused a HistoryBuffer state with fields {sorted(state)}'
                if isinstance(state, dict) else 'rkd refused a HistoryBuffer state that is not a '
                'dict')
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict) or any(
                getattr(HistoryBuffer, str(name), None) is not method
                for name, method in methods.items()):
            raise pickle.UnpicklingError(
                'rkd refused HistoryBuffer statistics methods that are not its own')
        HistoryBuffer.__setstate__(self, state)
        self.__class__ = HistoryBuffer


def _numpy_globals() -> list:
    """The numpy globals of pickled arrays and scalars, under both module paths (``numpy.core``
    in numpy 1, ``numpy._core`` in numpy 2), so a file from either numpy loads."""
    numpy_1 = int(np.__version__.split('.')[0]) < 2
    multiarray = importlib.import_module(
        'numpy.core.multiarray' if numpy_1 else 'numpy._core.multiarray')
    by_name = [(getattr(multiarray, name), f'numpy.{core}.multiarray.{name}')
               for name in ('_reconstruct', 'scalar') for core in ('core', '_core')]
    dtype_classes = {type(np.dtype(scalar_type)) for scalar_type in np.sctypeDict.values()}
    return [*by_name, np.ndarray, np.dtype, *dtype_classes]


def mmengine_checkpoint_globals() -> List[Any]:
    """The globals an mmengine checkpoint needs, in the form ``torch.serialization.safe_globals``
    takes: inert data constructors, plus the two guarded stand-ins above."""
    return [(_CheckedHistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
            (_history_buffer_method, 'builtins.getattr'), *_numpy_globals()]


@contextlib.contextmanager
def checkpoint_role(role: str, filename: Optional[str]) -> Iterator[None]:
    """Name what ``filename`` is (``'teacher checkpoint'``, ``'resume checkpoint'``...) in the
    errors of any load of it inside this block."""
    if filename is None:
        yield
        return
    token = _ROLES.set({**_ROLES.get(), _role_key(filename): role})
    try:
        yield
    finally:
        _ROLES.reset(token)


def _role_key(filename: str) -> str:
    return filename if '://' in filename else osp.abspath(osp.expanduser(filename))


def role_of(filename: str) -> str:
    """The role :func:`checkpoint_role` gave ``filename``, else ``'checkpoint'``."""
    return _ROLES.get().get(_role_key(filename), DEFAULT_ROLE)


def safe_torch_load(file: Any, map_location: Any = None, name: Optional[str] = None) -> Any:
    """``torch.load(weights_only=True)`` trusting mmengine's checkpoint globals for this load only.

    Args:
        file: a path or a file object.
        map_location: as for ``torch.load``.
        name: the file's name in error messages (default: ``file`` itself).

    Raises:
        UnsafeCheckpointError: the file needs code execution (or untrusted objects) to load.
        CheckpointLoadError: the file is damaged or not a torch checkpoint.
    """
    name = str(file) if name is None else name
    role = role_of(name)
    try:
        with torch.serialization.safe_globals(mmengine_checkpoint_globals()):
            return torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        reason = _unpickler_reason(error)
        if any(marker in reason for marker in _UNTRUSTED_MARKERS):
            raise UnsafeCheckpointError(
                f'The {role} "{name}" was refused: loading it needs code execution or objects '
                'that are not plain data, which rkd never allows. Checkpoints written by '
                'torch.save(state_dict) or by the mmengine runner load safely; ask whoever made '
                f'this file for one of those. (The safe unpickler stopped at: {reason})'
            ) from None
        raise _unreadable(role, name, reason) from None
    except (RuntimeError, EOFError, ValueError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise CheckpointLoadError(f'The {role} "{name}" does not exist.') from None
        raise _unreadable(role, name, f'{type(error).__name__}: {_first_line(error)}') from None


def _unreadable(role: str, name: str, reason: str) -> CheckpointLoadError:
    return CheckpointLoadError(
        f'The {role} "{name}" cannot be read as a torch checkpoint: the file is truncated, '
        f'damaged or of another format ({reason}).')


def _unpickler_reason(error: pickle.UnpicklingError) -> str:
    """What torch's safe unpickler objected to, without the advice torch wraps around it."""
    message = str(error)
    if 'WeightsUnpickler error:' in message:
        message = message.split('WeightsUnpickler error:', 1)[1]
        message = message.split('Check the documentation of torch.load', 1)[0]
    return ' '.join(message.split()) or type(error).__name__


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0].rstrip('.') if lines else type(error).__name__


# mmengine's CheckpointLoader schemes, rkd's safe versions ------------------------------------


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """A local checkpoint file, loaded safely."""
    path = osp.expanduser(filename)
    if not osp.isfile(path):
        raise CheckpointLoadError(f'The {role_of(filename)} "{filename}" does not exist.')
    return safe_torch_load(path, map_location, name=filename)


def load_from_http(url: str, map_location: Any = None, model_dir: Optional[str] = None) -> Any:
    """A checkpoint at an http(s) URL: downloaded once to torch's hub cache (rank 0 first, as
    mmengine does), then loaded safely."""
    rank, world_size = get_dist_info()
    if rank == 0:
        cached = _download(url, model_dir)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            cached = _download(url, model_dir)
    with checkpoint_role(role_of(url), cached):
        return safe_torch_load(cached, map_location, name=cached)


# Seconds a download waits for the server at a time (to connect, or for its next bytes): offline,
# or with a server that never answers, the load fails with a clear error instead of hanging.
DOWNLOAD_TIMEOUT_S = 30.0


def _download(url: str, model_dir: Optional[str]) -> str:
    """The cached copy of ``url`` in torch's hub folder (mmengine's cache too)."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    if osp.exists(cached):
        return cached
    what = f'The {role_of(url)} "{url}" cannot be downloaded'
    timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        os.makedirs(model_dir, exist_ok=True)
        torch.hub.download_url_to_file(url, cached, progress=False)
    except (URLError, TimeoutError) as error:
        raise CheckpointLoadError(
            f'{what} ({getattr(error, "reason", None) or "timed out"}): check the URL and the '
            'network. Offline, download it where there is a network and give its local path.'
        ) from None
    except OSError as error:  # the cache folder cannot be created or written
        raise CheckpointLoadError(
            f'{what} to the cache folder "{model_dir}" ({error.strerror or error}): set '
            'TORCH_HOME to a writable folder, or download it and give its local path.') from None
    finally:
        socket.setdefaulttimeout(timeout)
    return cached


def load_from_torchvision(filename: str, map_location: Any = None) -> Any:
    """``torchvision://NAME`` (or the deprecated ``modelzoo://NAME``), resolved by mmengine."""
    name = filename.split('://', 1)[1]
    return _load_named_url(filename, mmengine_checkpoint.get_torchvision_models()[name],
                           map_location)


def load_from_openmmlab(filename: str, map_location: Any = None) -> Any:
    """``open-mmlab://NAME``, resolved by mmengine's tables (with its deprecated names)."""
    name = filename.split('://', 1)[1]
    name = mmengine_checkpoint.get_deprecated_model_names().get(name, name)
    url = mmengine_checkpoint.get_external_models()[name]
    if not url.startswith(('http://', 'https://')):
        local = osp.join(mmengine_checkpoint._get_mmengine_home(), url)
        with checkpoint_role(role_of(filename), local):
            return load_from_local(local, map_location)
    return _load_named_url(filename, url, map_location)


def load_from_mmcls(filename: str, map_location: Any = None) -> Any:
    """``mmcls://NAME``: the backbone of an mmcls model-zoo checkpoint, as mmengine does it."""
    url = mmengine_checkpoint.get_mmcls_models()[filename[len('mmcls://'):]]
    checkpoint = _load_named_url(filename, url, map_location)
    return mmengine_checkpoint._process_mmcls_checkpoint(checkpoint)


def _load_named_url(filename: str, url: str, map_location: Any) -> Any:
    with checkpoint_role(role_of(filename), url):
        return load_from_http(url, map_location)


# Each scheme's safe loader, by the prefixes mmengine's CheckpointLoader knows it by.
SAFE_SCHEMES: Dict[str, Callable[..., Any]] = {
    '': load_from_local, 'http://': load_from_http, 'https://': load_from_http,
    'modelzoo://': load_from_torchvision, 'torchvision://': load_from_torchvision,
    'open-mmlab://': load_from_openmmlab, 'openmmlab://': load_from_openmmlab,
    'mmcls://': load_from_mmcls}


def safe_load_checkpoint(filename: str, map_location: Any = None) -> Any:
    """A checkpoint from a local file or any URL scheme mmengine knows, loaded safely.

    What mmengine's ``_load_checkpoint`` does, through rkd's loaders whether or not they were
    installed in mmengine (:func:`rkd.engine.compat.install_safe_loaders`): rkd's own loads
    (teacher, test, export) never depend on it.
    """
    prefix = max((p for p in SAFE_SCHEMES if filename.startswith(p)), key=len)
    return SAFE_SCHEMES[prefix](filename, map_location)
