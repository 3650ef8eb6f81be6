"""Checkpoints that load under torch >= 2.6 without trusting pickles.

torch >= 2.6 unpickles with ``weights_only=True`` by default: only tensors,
plain containers and scalars, and an explicit allow-list of globals. mmengine
0.10.7 saves training state that falls outside it (``HistoryBuffer`` objects
holding numpy arrays and bound methods, numpy scalars in metrics), so it
cannot read back its own checkpoints; passing ``weights_only=False`` would
let any downloaded checkpoint run code.

mmshuffle keeps loading restricted and makes its own checkpoints fit:

* :class:`SafeCheckpointHook` rewrites the training state just before a
  checkpoint is written (numpy scalars -> Python numbers, numpy arrays ->
  tensors, ``HistoryBuffer`` -> a tagged plain dict) and rebuilds the
  ``HistoryBuffer`` objects after a checkpoint is loaded for ``--resume``.
* :func:`load_checkpoint_file` replaces mmengine's loader for local paths:
  it always unpickles with ``weights_only=True`` and turns a refusal into a
  clear error that names the file.
"""
import errno
import os
import os.path as osp
import pickle
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from mmshuffle.registry import HOOKS

from .fileio import atomic_write

_BUFFER_TAG = '__mmshuffle_history_buffer__'


class CheckpointReadError(pickle.UnpicklingError):
    """A checkpoint file cannot be read; the message names the cause."""


class UnsafeCheckpointError(CheckpointReadError):
    """A checkpoint holds objects outside the weights-only allow-list."""


def to_safe(obj: Any) -> Any:
    """Return ``obj`` with every value made loadable by ``weights_only``.

    numpy scalars become Python numbers, numpy arrays become tensors,
    ``HistoryBuffer`` becomes a tagged dict; containers are rebuilt
    recursively (tuples, lists, dicts and their subclasses such as
    ``OrderedDict`` keep their type). Anything else is returned as is.
    """
    if isinstance(obj, HistoryBuffer):
        log, count = obj.data
        return {
            _BUFFER_TAG: True,
            'log_history': torch.from_numpy(np.asarray(log, np.float64)),
            'count_history': torch.from_numpy(np.asarray(count, np.int64)),
            'max_length': int(obj.max_length),
        }
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy()) if obj.dtype != object \
            else [to_safe(x) for x in obj.tolist()]
    if isinstance(obj, dict):
        # OrderedDict stays (it is allow-listed); ConfigDict etc. -> dict
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for key, value in obj.items():
            out[to_safe(key)] = to_safe(value)
        return out
    if isinstance(obj, tuple) and not hasattr(obj, '_fields'):
        return tuple(to_safe(x) for x in obj)
    if isinstance(obj, list):
        return [to_safe(x) for x in obj]
    return obj


def from_safe(obj: Any) -> Any:
    """Inverse of :func:`to_safe` for the ``HistoryBuffer`` tags."""
    if isinstance(obj, dict):
        if obj.get(_BUFFER_TAG):
            return HistoryBuffer(obj['log_history'].tolist(),
                                 obj['count_history'].tolist(),
                                 obj['max_length'])
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for key, value in obj.items():
            out[key] = from_safe(value)
        return out
    if isinstance(obj, list):
        return [from_safe(x) for x in obj]
    return obj


def load_checkpoint_file(filename: str, map_location=None) -> Any:
    """Load a local checkpoint with ``weights_only=True``.

    A failure is explained by its cause, found by examining the file (not
    by matching the wording of torch's messages).

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnsafeCheckpointError: the file holds Python objects outside the
            weights-only allow-list (they could run code when unpickled).
        CheckpointReadError: the file cannot be read (a directory, no
            permission, an I/O error), is empty, truncated or corrupted, is
            not a checkpoint, or torch fails to load it for another reason
            (named in the message).
    """
    filename = osp.expanduser(str(filename))
    try:
        f = open(filename, 'rb')
    except FileNotFoundError:
        raise FileNotFoundError(f'checkpoint file {filename!r} does not '
                                'exist') from None
    except IsADirectoryError:
        raise CheckpointReadError(
            f'cannot read checkpoint {filename!r}: it is a directory, not '
            'a file') from None
    except PermissionError:
        raise CheckpointReadError(
            f'cannot read checkpoint {filename!r}: permission denied') \
            from None
    except OSError as err:
        raise _os_error(filename, err) from None
    with f:
        try:
            return torch.load(f, map_location=map_location,
                              weights_only=True)
        except OSError as err:
            raise _os_error(filename, err) from None
        except Exception as err:  # noqa: BLE001 (explained below)
            raise _explain_failure(filename, err) from None


def _os_error(filename: str, err: OSError) -> CheckpointReadError:
    reason = err.strerror or str(err) or type(err).__name__
    code = errno.errorcode.get(err.errno, '') if err.errno else ''
    return CheckpointReadError(
        f'cannot read checkpoint {filename!r}: {reason}'
        + (f' ({code})' if code else ''))


#: the first bytes of a zip archive (torch.save's format since torch 1.6)
_ZIP_MAGIC = b'PK\x03\x04'
#: a pickle's first byte from protocol 2 on (the legacy torch.save format)
_PICKLE_PROTO = 0x80


def _explain_failure(filename: str, err: Exception) -> CheckpointReadError:
    """The cause of a failed ``torch.load``, found from the file itself."""
    def fail(cause: str) -> CheckpointReadError:
        return CheckpointReadError(
            f'cannot read checkpoint {filename!r}: {cause}')

    torch_said = _first_line(err)
    try:
        size = os.path.getsize(filename)
        with open(filename, 'rb') as f:
            head = f.read(4)
    except OSError as os_err:
        return _os_error(filename, os_err)
    if size == 0:
        return fail('the file is empty (0 bytes)')
    if head == _ZIP_MAGIC:
        if not zipfile.is_zipfile(filename):
            return fail('the file is truncated (its zip archive ends '
                        f'before the central directory; {size} bytes)')
        try:
            with zipfile.ZipFile(filename) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError,
                NotImplementedError) as zip_err:
            return fail(f'the file is corrupted ({_first_line(zip_err)})')
        if bad is not None:
            return fail(f'the file is corrupted (member {bad!r} fails its '
                        'CRC check)')
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(
                filename)
        except Exception:  # noqa: BLE001 (not a torch.save archive)
            unsafe = []
        if unsafe:
            return UnsafeCheckpointError(
                f'refusing to load checkpoint {filename!r}: it holds Python '
                'objects outside the weights-only allow-list, which could '
                f'run code when unpickled ({", ".join(unsafe)}). '
                'Checkpoints written by mmshuffle, torchvision and '
                'mmpretrain state dicts load; convert other files with a '
                'trusted tool first.')
        return fail(f'torch.load failed on an intact archive: {torch_said}')
    if head[:1] == bytes([_PICKLE_PROTO]):
        return fail('torch.load failed on a file in the legacy (pre-1.6) '
                    f'pickle format: {torch_said}')
    return fail('not a PyTorch checkpoint (neither a zip archive nor a '
                'pickle)')


def _first_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return f'{type(err).__name__}: {lines[0]}' if lines else repr(err)


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename, map_location):
    # mmengine's own local loader calls torch.load without weights_only
    return load_checkpoint_file(filename, map_location)


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Keep checkpoints within torch's weights-only allow-list.

    ``tools/train.py`` adds this hook to every run. Add it yourself when
    you train with your own script::

        custom_hooks = [dict(type='mmshuffle.SafeCheckpointHook')]
    """

    priority = 'VERY_LOW'  # runs after hooks that add to the checkpoint

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        safe = to_safe(checkpoint)
        checkpoint.clear()
        checkpoint.update(safe)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = from_safe(checkpoint['message_hub'])


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose ``last_checkpoint`` marker is
    written atomically.

    The checkpoint files themselves already go through
    :class:`~mmshuffle.engine.fileio.AtomicLocalBackend`. mmengine 0.10.7
    writes the ``last_checkpoint`` marker with a plain ``open()``, so a
    process killed at that moment leaves an empty marker and
    ``--resume`` finds nothing. This hook saves exactly as mmengine does
    (same files, same ``max_keep_ckpts`` bookkeeping) and then writes the
    marker through :func:`~mmshuffle.engine.fileio.atomic_write`: a reader
    sees the previous complete path or the new one.

    The configs use it as ``type='mmshuffle.AtomicCheckpointHook'``;
    ``tools/train.py`` upgrades a plain ``CheckpointHook`` to it.
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        # Same bookkeeping as CheckpointHook._save_checkpoint_with_step in
        # mmengine 0.10.7: drop the oldest kept checkpoint first.
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                old_step = self.keep_ckpt_ids.popleft()
                if is_main_process():
                    old = self.file_backend.join_path(
                        self.out_dir, self.filename_tmpl.format(old_step))
                    if self.file_backend.isfile(old):
                        self.file_backend.remove(old)
                    elif self.file_backend.isdir(old):
                        self.file_backend.rmtree(old)
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if is_main_process():
            atomic_write(
                str(self.last_ckpt).encode('utf-8'),
                osp.join(runner.work_dir, 'last_checkpoint'))
