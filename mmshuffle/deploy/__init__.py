"""Inference forms of mmshuffle models: BatchNorm folding, channels_last,
torch.compile and ONNX export."""
from .fuse import ConvAct, fold_bn, fuse_conv_bn, is_deploy, switch_to_deploy

__all__ = [
    'ConvAct', 'fold_bn', 'fuse_conv_bn', 'is_deploy', 'switch_to_deploy'
]
