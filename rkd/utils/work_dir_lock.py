"""One training run at a time in a work dir.

Two runs started on one work dir (a job submitted twice, a resume started while the first run
still trains) would both write ``iter_N.pth`` / ``epoch_N.pth`` and ``last_checkpoint``: the
checkpoints of one run would overwrite the other's, and ``--resume`` would pick up either. The
first run holds an exclusive ``flock`` on ``work_dir/.rkd-train.lock`` until it ends; the
operating system drops it when the process dies, even by SIGKILL, so no stale lock is left.
The file stays empty: a run that is refused, or that ends, leaves the work dir's files as they
were, byte for byte.
"""
import contextlib
import fcntl
import os
import os.path as osp
import sys
from typing import Iterator

LOCK_FILE = '.rkd-train.lock'
# The variable holding a process's global rank under each launcher of tools/train.py.
RANK_VARIABLES = dict(pytorch='RANK', slurm='SLURM_PROCID', mpi='OMPI_COMM_WORLD_RANK')


def _is_first_process(launcher: str) -> bool:
    """Rank 0 of the run, read from the launcher's variables: with CUDA the process group
    exists only once the Runner is built."""
    variable = RANK_VARIABLES.get(launcher)
    return variable is None or int(os.environ.get(variable, '0')) == 0


def _holder(fd: int) -> str:
    """Who holds the lock on ``fd``'s file: a process of this machine, read from the kernel's
    table of locks (``/proc/locks``: ``1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> ...``,
    the device numbers in hex)."""
    stat = os.fstat(fd)
    file_id = f'{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}'
    try:
        with open('/proc/locks') as table:
            for fields in (line.split() for line in table):
                if fields[1:2] == ['FLOCK'] and fields[5] == file_id:
                    return f'pid {fields[4]}'
    except (OSError, IndexError):
        pass
    return 'a process of another machine, or one not visible from here'


@contextlib.contextmanager
def exclusive_work_dir(work_dir: str, launcher: str = 'none') -> Iterator[None]:
    """Hold ``work_dir``'s lock for the block (rank 0 holds it for the whole run); if another
    run holds it, end the tool with rkd's message, before anything is written there."""
    if not _is_first_process(launcher):
        yield
        return
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, LOCK_FILE), 'a') as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f'rkd: Another training run ({_holder(lock.fileno())}) is using the work dir '
                  f'"{work_dir}"; two runs there would overwrite each other\'s checkpoints. Wait '
                  'for it to end, or give this run another --work-dir.', file=sys.stderr)
            raise SystemExit(1) from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
