"""Checkpoints that a kill during saving cannot damage.

mmengine 0.10.7's ``CheckpointHook`` first removes the checkpoint that ``max_keep_ckpts`` puts
out, then writes the new one in place (``LocalBackend.put`` opens the final path), then points
``work_dir/last_checkpoint`` at it. A kill during the write leaves a truncated file under the new
name and, with ``max_keep_ckpts=1``, no complete checkpoint at all. ``save_best`` does the same
with the best checkpoint: the old best is gone before the new one is written. Here the checkpoint
is written to a temporary file in the same folder, synced, and renamed into place (``os.replace``
is atomic on one file system), ``last_checkpoint`` likewise, and the outdated checkpoint (or best
checkpoint) goes only after that.
"""
import glob
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import List, Optional, Union

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook

from rkd.registry import HOOKS

from .version import check_mmengine_version

PARTIAL_SUFFIX = '.rkd-partial'  # a write in progress, or one a kill cut short


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local disk backend whose writes are all or nothing: a reader finds the old
    file or the complete new one, never part of it."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        self._replace(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        self._replace(obj.encode(encoding), filepath)

    @staticmethod
    def _replace(data: bytes, filepath: Union[str, Path]) -> None:
        folder, name = osp.split(osp.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        handle, tmp_path = tempfile.mkstemp(prefix=f'.{name}.', suffix=PARTIAL_SUFFIX, dir=folder)
        os.close(handle)
        try:
            os.chmod(tmp_path, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0600
            with open(tmp_path, 'wb') as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # the bytes are on disk before the name points at them
            os.replace(tmp_path, filepath)
        except BaseException:
            os.remove(tmp_path)
            raise


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) with atomic local writes, and
    ``max_keep_ckpts`` removing the outdated checkpoint once the new one is complete.

    Without ``backend_args`` it writes through :class:`AtomicLocalBackend`; a given
    ``backend_args`` (an object store, whose uploads are atomic) is used as it is. The partial
    files of writes a kill cut short are removed when training starts again.
    """

    def __init__(self, *args, backend_args: Optional[dict] = None, **kwargs) -> None:
        check_mmengine_version()
        super().__init__(*args, backend_args=backend_args or dict(backend='atomic_local'),
                         **kwargs)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, AtomicLocalBackend):
            for folder in {self.out_dir, runner.work_dir}:
                for partial in glob.glob(osp.join(glob.escape(folder), f'.*{PARTIAL_SUFFIX}')):
                    os.remove(partial)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's, with the previous best removed after the new one is written: mmengine
        removes it first."""
        if not self.save_best:  # mmengine's returns then, before setting best_ckpt_path
            return
        backend, deferred = self.file_backend, _DeferredRemovals(self.file_backend)
        self.file_backend = deferred
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend  # after a failed save, the previous best stays
        current = {self.best_ckpt_path, *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for path in deferred.paths:
            if path not in current:  # the best of the same step is overwritten, not removed
                self._remove(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        outdated = None
        # the bookkeeping comes first, as in mmengine: the checkpoint's message hub carries it
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, ckpt_filename, self.file_client_args,
            save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
            meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        AtomicLocalBackend().put_text(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
        if outdated is not None:
            self._remove(self.file_backend.join_path(self.out_dir,
                                                     self.filename_tmpl.format(outdated)))

    def _remove(self, path: str) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed saves folders
            self.file_backend.rmtree(path)


class _DeferredRemovals:
    """A file backend whose removals are recorded, not done; the rest is the real backend's."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.paths: List[str] = []

    def remove(self, path: str) -> None:
        self.paths.append(path)

    def rmtree(self, path: str) -> None:
        self.paths.append(path)

    def __getattr__(self, name: str):
        return getattr(self.backend, name)
