"""Inference forms of mmshuffle models: BatchNorm folding, channels_last,
torch.compile and ONNX export (:mod:`mmshuffle.deploy.onnx`)."""
from .fuse import (ConvAct, compile_for_inference, fold_bn, fuse_conv_bn,
                   is_deploy, switch_to_deploy)

__all__ = [
    'ConvAct', 'compile_for_inference', 'fold_bn', 'fuse_conv_bn',
    'is_deploy', 'switch_to_deploy'
]
