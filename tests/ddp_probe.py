"""Instrumentation for the distributed tests, loaded by the configs they
write (``custom_imports``): every rank records what it saved and dumps
its final weights, so a test can compare the ranks."""
import json
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from mmshuffle.engine.fileio import AtomicLocalBackend


@HOOKS.register_module()
class RankProbeHook(Hook):
    """After training, rank ``r`` writes ``rank{r}.pth`` (its model's
    state dict) and ``rank{r}_saved.json`` (every file it wrote through
    mmengine's local file backend, in order) into ``out_dir``."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.saved = []

    def before_run(self, runner):
        real_put = AtomicLocalBackend.put
        saved = self.saved

        def put(backend, obj, filepath):
            saved.append(osp.basename(str(filepath)))
            return real_put(backend, obj, filepath)

        AtomicLocalBackend.put = put  # this process only

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
