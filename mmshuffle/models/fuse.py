"""The inference form of a model: BatchNorm folded into the convolution.

At inference a BatchNorm is an affine map per channel with frozen
statistics, so ``bn(conv(x))`` equals one convolution with rescaled weights
and a bias. :func:`switch_to_deploy` rewrites every mmcv ``ConvModule``
(conv -> BN -> activation) of a model into a :class:`ConvAct` (a biased
convolution and the activation), optionally in ``channels_last`` memory
format. The outputs stay equal to the training form's in eval mode (within
1e-4; tested for every backbone variant) while each block runs one kernel
and one Python call fewer.

A model in deploy mode is for inference only: its BatchNorm statistics are
gone, so ``model.train()`` on an mmshuffle backbone raises.

This module belongs to :mod:`mmshuffle.models` (the backbones use it for
their ``switch_to_deploy`` method) and imports nothing from
:mod:`mmshuffle.deploy`, which re-exports it with the other inference tools.
"""
from typing import Optional

import torch
from mmcv.cnn import ConvModule
from torch import nn

from .utils import check_bool, is_batch_norm


class DeployAware:
    """Mixin of modules that know their inference form: they keep a
    ``deploy`` flag (set by :func:`switch_to_deploy`, e.g. to refuse
    ``train()`` afterwards) and a ``channels_last`` flag (their input is
    converted to that memory format)."""

    deploy: bool = False
    channels_last: bool = False


class ConvAct(nn.Module):
    """A convolution (with bias) followed by an optional activation: the
    inference form of ``ConvModule(conv, BN, act)``.

    Args:
        conv (nn.Conv2d): the convolution, BatchNorm already folded in.
        act (nn.Module, optional): the activation, or ``None``.
        padding (nn.Module, optional): an explicit padding layer that runs
            before the convolution (``ConvModule`` with a non-zero
            ``padding_mode``), or ``None``.
    """

    def __init__(self,
                 conv: nn.Conv2d,
                 act: Optional[nn.Module] = None,
                 padding: Optional[nn.Module] = None):
        super().__init__()
        self.padding = padding
        self.conv = conv
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding is not None:
            x = self.padding(x)
        x = self.conv(x)
        return x if self.act is None else self.act(x)


@torch.no_grad()
def fold_bn(conv: nn.Conv2d, bn: nn.Module) -> nn.Conv2d:
    """Return a new biased convolution equal to ``bn(conv(x))`` in eval
    mode.

    Raises:
        ValueError: ``bn`` keeps no running statistics
            (``track_running_stats=False``) or does not match ``conv``'s
            output channels.
    """
    mean, var = bn.running_mean, bn.running_var
    if mean is None or var is None:
        raise ValueError(
            f'cannot fold {type(bn).__name__} into the convolution: it '
            'keeps no running statistics (track_running_stats=False)')
    if mean.numel() != conv.out_channels:
        raise ValueError(
            f'cannot fold {type(bn).__name__}({mean.numel()}) into a '
            f'convolution with {conv.out_channels} output channels')
    # compute in float64 so folding adds no rounding of its own
    scale = torch.rsqrt(var.double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    if conv.bias is not None:
        shift = shift + conv.bias.double() * scale
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype)
    shape = (-1, ) + (1, ) * (conv.weight.dim() - 1)
    fused.weight.copy_(conv.weight.double() * scale.reshape(shape))
    fused.bias.copy_(shift)
    return fused


def _convert(module: ConvModule) -> Optional[ConvAct]:
    """The :class:`ConvAct` equal to ``module``, or ``None`` when its layer
    order is not conv -> norm -> act (nothing to fold then)."""
    order = tuple(getattr(module, 'order', ('conv', 'norm', 'act')))
    if order != ('conv', 'norm', 'act') or \
            not isinstance(module.conv, nn.Conv2d):
        return None
    conv = module.conv
    if module.with_norm:
        if not is_batch_norm(module.norm):
            return None  # GroupNorm etc. depend on the input: keep them
        conv = fold_bn(conv, module.norm)
    act = module.activate if module.with_activation else None
    padding = module.padding_layer if getattr(
        module, 'with_explicit_padding', False) else None
    return ConvAct(conv, act, padding)


def fuse_conv_bn(model: nn.Module) -> int:
    """Replace, in place, every ``ConvModule`` of ``model`` (conv -> BN ->
    act) by its :class:`ConvAct` inference form. Returns how many were
    replaced."""
    count = 0
    for name, child in list(model.named_children()):
        if isinstance(child, ConvModule):
            fused = _convert(child)
            if fused is not None:
                setattr(model, name, fused)
                count += 1
                continue
        count += fuse_conv_bn(child)
    return count


def switch_to_deploy(model: nn.Module, channels_last: bool = False):
    """Turn ``model`` (a backbone, classifier or detector) into its
    inference form, in place, and return it.

    The model is put in eval mode, every conv -> BN -> act ``ConvModule``
    is folded into a :class:`ConvAct`, and with ``channels_last=True``
    parameters move to ``torch.channels_last`` memory format (mmshuffle
    backbones then convert their input too). Calling it twice is a no-op.

    Args:
        model (nn.Module): the model to convert.
        channels_last (bool): also switch the memory format.

    Returns:
        nn.Module: ``model`` itself.
    """
    if not isinstance(model, nn.Module):
        raise TypeError('switch_to_deploy expects an nn.Module, but got '
                        f'{type(model).__name__}')
    check_bool('channels_last', channels_last)
    model.eval()
    fuse_conv_bn(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    for module in model.modules():
        if isinstance(module, DeployAware):
            module.deploy = True
            module.channels_last = module.channels_last or channels_last
    return model


def is_deploy(model: nn.Module) -> bool:
    """Whether :func:`switch_to_deploy` was applied to ``model`` (or to
    every mmshuffle backbone in it)."""
    backbones = [m for m in model.modules() if isinstance(m, DeployAware)]
    return bool(backbones) and all(b.deploy for b in backbones)
