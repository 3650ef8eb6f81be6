"""Atomic writes for mmengine's local file backend.

mmengine 0.10.7 writes checkpoints with ``open(path, 'wb').write(...)``: a
process killed mid-write leaves a truncated file under the final name, which
``--resume`` would pick up. :class:`AtomicLocalBackend` writes to a temporary
file in the same directory, flushes and fsyncs it, then renames it over the
target, so a reader sees either the previous complete file or the new one.
``import mmshuffle`` registers it as mmengine's backend for local paths.
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio.backends import LocalBackend, register_backend


def atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` atomically (same-directory temp file,
    flush, fsync, rename)."""
    filepath = str(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(filepath)}.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


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
