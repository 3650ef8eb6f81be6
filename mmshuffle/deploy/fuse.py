"""The inference form of a model: BatchNorm folded into the convolution
(:mod:`mmshuffle.models.fuse`, re-exported here) and ``torch.compile`` with
frozen weights.

A model in deploy mode is for inference only: its BatchNorm statistics are
gone, so ``model.train()`` on an mmshuffle backbone raises.
"""
import torch
from torch import nn

from mmshuffle.models.fuse import (ConvAct, DeployAware, fold_bn,
                                   fuse_conv_bn, is_deploy, switch_to_deploy)

__all__ = [
    'ConvAct', 'DeployAware', 'FrozenCompiled', 'compile_for_inference',
    'fold_bn', 'fuse_conv_bn', 'is_deploy', 'switch_to_deploy'
]


class FrozenCompiled(nn.Module):
    """``model`` compiled by ``torch.compile`` (inductor) with frozen
    weights; see :func:`compile_for_inference`."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.compiled = torch.compile(model)

    def forward(self, *args, **kwargs):
        # inductor reads `freezing` when it compiles, i.e. on the first call
        # for a new input shape: keep it on for those calls only, without
        # changing the process-wide setting
        import torch._inductor.config as inductor_config
        with inductor_config.patch(freezing=True):
            return self.compiled(*args, **kwargs)


def compile_for_inference(model: nn.Module) -> nn.Module:
    """``torch.compile`` (inductor) with frozen weights: parameters become
    constants, so convolutions get prepacked weights and constant folding.

    Inference only (call it under ``torch.no_grad()``); the first call for
    each input shape compiles (seconds to tens of seconds). On the deploy
    form in the default NCHW memory format this is the fastest PyTorch path
    measured here (see docs/benchmarks.md).
    """
    if not isinstance(model, nn.Module):
        raise TypeError('compile_for_inference expects an nn.Module, but '
                        f'got {type(model).__name__}')
    return FrozenCompiled(model.eval())
