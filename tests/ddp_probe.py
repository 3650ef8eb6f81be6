"""Instrumentation for the distributed tests, loaded by the configs they
write (``custom_imports``): every rank records every file it wrote and
dumps its final weights, so a test can compare the ranks."""
import builtins
import json
import logging
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

import mmshuffle.engine.checkpoint as checkpoint_module
import mmshuffle.engine.fileio as fileio_module
from mmshuffle.engine.fileio import AtomicLocalBackend

_WRITE_MODES = set('wax+')


@HOOKS.register_module()
class RankProbeHook(Hook):
    """After training, rank ``r`` writes ``rank{r}.pth`` (its model's
    state dict) and ``rank{r}_saved.json`` into ``out_dir``: every file
    under the work dir that it wrote, in order, as ``[how, path relative
    to the work dir]``. ``how`` is ``put``/``put_text`` (mmengine's local
    file backend), ``atomic_write`` (e.g. the ``last_checkpoint`` marker),
    ``open`` (any file opened for writing, such as the scalar logs) or
    ``log`` (a log file its logger writes to)."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.saved = []
        self.work_dir = None

    def _record(self, how, filepath):
        path = osp.abspath(str(filepath))
        if self.work_dir and path.startswith(self.work_dir + osp.sep):
            self.saved.append([how, osp.relpath(path, self.work_dir)])

    def before_run(self, runner):
        # this process only: the probes wrap the writers of this rank
        self.work_dir = osp.abspath(runner.work_dir)
        record = self._record
        real_put = AtomicLocalBackend.put
        real_put_text = AtomicLocalBackend.put_text
        real_atomic_write = fileio_module.atomic_write
        real_open = builtins.open

        def put(backend, obj, filepath):
            record('put', filepath)
            return real_put(backend, obj, filepath)

        def put_text(backend, obj, filepath, encoding='utf-8'):
            record('put_text', filepath)
            return real_put_text(backend, obj, filepath, encoding)

        def atomic_write(data, filepath):
            record('atomic_write', filepath)
            return real_atomic_write(data, filepath)

        def probing_open(file, mode='r', *args, **kwargs):
            if isinstance(file, (str, bytes)) or hasattr(file, '__fspath__'):
                if _WRITE_MODES & set(str(mode)):
                    record('open', osp.abspath(str(file)))
            return real_open(file, mode, *args, **kwargs)

        AtomicLocalBackend.put = put
        AtomicLocalBackend.put_text = put_text
        checkpoint_module.atomic_write = atomic_write
        builtins.open = probing_open
        # log files opened before this hook ran
        for handler in runner.logger.handlers:
            if isinstance(handler, logging.FileHandler):
                record('log', handler.baseFilename)

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        rank = get_rank()
        state = {k: v.detach().cpu().clone()
                 for k, v in model.state_dict().items()}
        torch.save(state, osp.join(self.out_dir, f'rank{rank}.pth'))
        with open(osp.join(self.out_dir, f'rank{rank}_saved.json'),
                  'w') as f:
            json.dump(self.saved, f)
