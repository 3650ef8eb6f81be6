"""Atomic writes for mmengine's local file backend.

mmengine 0.10.7 writes checkpoints with ``open(path, 'wb').write(...)``: a
process killed mid-write leaves a truncated file under the final name, which
``--resume`` would pick up. :class:`AtomicLocalBackend` writes to a temporary
file in the same directory, flushes and fsyncs it, then renames it over the
target, so a reader sees either the previous complete file or the new one.
The file ends up with the permissions a plain ``open(path, 'wb')`` gives it:
an existing file keeps its mode, a new one gets ``0o666`` less the process's
umask (not the owner-only ``0o600`` of a bare temporary file).

``import mmshuffle`` registers :class:`AtomicLocalBackend` as mmengine's
backend for local paths (see ``docs/get_started.md`` for what that changes
and how to opt out).
"""
import os
import os.path as osp
import stat
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio.backends import LocalBackend, register_backend


def current_umask() -> int:
    """The process's umask, read without changing it where the system
    reports it (Linux ``/proc/self/status``), else by setting and restoring
    it."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_of_plain_open(filepath: str) -> int:
    """The permission bits ``open(filepath, 'w')`` would leave: those of
    the existing file, or ``0o666 & ~umask`` for a new one."""
    try:
        return stat.S_IMODE(os.stat(filepath).st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` atomically: a temporary file in the
    same directory, flushed and fsynced, renamed over ``filepath``, then
    the directory fsynced. The file gets the mode a plain ``open()`` would
    give it (umask respected; an existing file keeps its mode)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f'data must be bytes, but got {type(data).__name__}')
    filepath = str(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    mode = _mode_of_plain_open(filepath)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(filepath)}.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (best effort: not every file system lets a
    directory be opened or synced)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` with atomic ``put``/``put_text``."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(obj, filepath)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), filepath)


register_backend('local', AtomicLocalBackend, force=True, prefixes='')
