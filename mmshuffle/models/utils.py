"""Stateless helpers shared by every network in mmshuffle."""
import math
import numbers
from typing import Sequence, Tuple

import torch
from mmengine.model.weight_init import constant_init, normal_init
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Shuffle the channels of ``x`` across ``groups``.

    Reshape ``(B, C, H, W)`` to ``(B, g, C/g, H, W)``, swap the group and
    channel axes, and flatten back. Only reshape/transpose are used, so the op
    exports to ONNX without custom operators.

    Args:
        x (Tensor): input of shape ``(B, C, H, W)``.
        groups (int): number of groups; must divide ``C``.

    Returns:
        Tensor: the shuffled tensor, same shape as ``x``, in the same
        memory format (NCHW or ``channels_last``).
    """
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(
            f'groups must be a positive int, but got {groups!r}')
    if x.dim() != 4:
        raise ValueError('channel_shuffle expects a 4-D (B, C, H, W) tensor, '
                         f'but got shape {tuple(x.shape)}')
    batch, channels, height, width = x.shape
    if channels % groups != 0:
        raise ValueError(f'the number of channels ({channels}) must be '
                         f'divisible by groups ({groups})')
    if x.is_contiguous(memory_format=torch.channels_last) and \
            not x.is_contiguous():
        # keep channels_last: shuffle the innermost (channel) axis of the
        # NHWC view instead of converting to NCHW and back
        x = x.permute(0, 2, 3, 1)
        x = x.reshape(batch, height, width, groups, channels // groups)
        x = x.transpose(3, 4).reshape(batch, height, width, channels)
        return x.permute(0, 3, 1, 2)
    x = x.view(batch, groups, channels // groups, height, width)
    x = x.transpose(1, 2).contiguous()
    return x.view(batch, channels, height, width)


def make_divisible(value: float,
                   divisor: int,
                   min_value: int = None,
                   min_ratio: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``.

    The result is at least ``min_value`` (default ``divisor``) and never
    falls below ``min_ratio * value`` (it is bumped up by one ``divisor``
    instead). Same rule as torchvision's and mmpretrain's helper, so widths
    (and checkpoints) agree with theirs.
    """
    if isinstance(divisor, bool) or not isinstance(divisor, int) \
            or divisor < 1:
        raise ValueError(
            f'divisor must be a positive int, but got {divisor!r}')
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < min_ratio * value:
        new_value += divisor
    return new_value


def is_batch_norm(module: nn.Module) -> bool:
    """Whether ``module`` is a BatchNorm of any flavour.

    Covers torch's ``_BatchNorm`` subclasses (BN, SyncBN) and mmcv's own
    ``SyncBatchNorm``, which does not derive from ``_BatchNorm``.
    """
    if isinstance(module, _BatchNorm):
        return True
    try:
        from mmcv.ops import SyncBatchNorm as MMCVSyncBN
    except ImportError:  # mmcv built without ops
        return False
    return isinstance(module, MMCVSyncBN)


def check_positive_number(name: str, value, allowed=None) -> float:
    """Validate a real, positive scalar argument (and optionally a set)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a number, but got {value!r} '
                        f'({type(value).__name__})')
    if allowed is not None:
        if value not in allowed:
            raise ValueError(f'{name} must be one of {sorted(allowed)}, '
                             f'but got {value!r}')
    elif not (value > 0 and math.isfinite(value)):
        raise ValueError(f'{name} must be a finite number > 0, '
                         f'but got {value!r}')
    return value


def check_bool(name: str, value) -> bool:
    """Validate a ``bool`` flag argument (``0``/``1`` are refused too)."""
    if not isinstance(value, bool):
        raise TypeError(f'{name} must be a bool, but got {value!r}')
    return value


def check_positive_int(name: str, value) -> int:
    """Validate a positive ``int`` argument (e.g. a channel count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{name} must be an int, but got {value!r} '
                        f'({type(value).__name__})')
    if value < 1:
        raise ValueError(f'{name} must be >= 1, but got {value!r}')
    return int(value)


def check_out_indices(out_indices: Sequence[int],
                      num_outputs: int) -> Tuple[int, ...]:
    """Validate ``out_indices``: a non-empty, strictly increasing sequence of
    ints in ``range(num_outputs)``. Returns it as a tuple."""
    if isinstance(out_indices, numbers.Integral) and \
            not isinstance(out_indices, bool):
        out_indices = (out_indices, )
    if not isinstance(out_indices, (list, tuple)):
        raise TypeError('out_indices must be a list or tuple of ints, but '
                        f'got {out_indices!r} ({type(out_indices).__name__})')
    allowed = f'ints in range(0, {num_outputs})'
    if len(out_indices) == 0:
        raise ValueError(f'out_indices must not be empty; allowed: {allowed}')
    for index in out_indices:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f'out_indices must hold {allowed}, but got '
                            f'{index!r} in {out_indices!r}')
        if not 0 <= index < num_outputs:
            raise ValueError(f'out_indices must hold {allowed}, but got '
                             f'{index} in {out_indices!r}')
    if len(set(out_indices)) != len(out_indices):
        raise ValueError(f'out_indices must not repeat an index, but got '
                         f'{out_indices!r}')
    if list(out_indices) != sorted(out_indices):
        raise ValueError('out_indices must be in increasing order (outputs '
                         f'come in network order), but got {out_indices!r}')
    return tuple(int(i) for i in out_indices)


def check_frozen_stages(frozen_stages: int, num_outputs: int) -> int:
    """Validate ``frozen_stages`` in ``range(-1, num_outputs + 1)``."""
    if isinstance(frozen_stages, bool) or \
            not isinstance(frozen_stages, numbers.Integral):
        raise TypeError(f'frozen_stages must be an int, but got '
                        f'{frozen_stages!r} ({type(frozen_stages).__name__})')
    if not -1 <= frozen_stages <= num_outputs:
        raise ValueError(
            f'frozen_stages must be in range(-1, {num_outputs + 1}) '
            '(-1: nothing frozen, 0: the stem, k: the stem and the first k '
            f'stages), but got {frozen_stages}')
    return int(frozen_stages)


def shufflenet_init(model: nn.Module) -> None:
    """The ShuffleNet papers' initialisation, as mmpretrain intends it.

    Convs: normal with std 0.01 for the stem (``conv1`` or ``stem``) and
    ``1 / fan_in`` per group elsewhere. Norm layers: weight 1, bias 1e-4,
    running mean 0.
    (mmpretrain 1.2.0's ShuffleNetV2 passes ``m.weight`` where a module is
    expected, so its BN init silently does nothing; here it is applied.)
    """
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            std = 0.01 if name.startswith(('conv1', 'stem')) else \
                1.0 / m.weight.shape[1]
            normal_init(m, mean=0, std=std)
        elif is_batch_norm(m) or isinstance(m, nn.GroupNorm):
            constant_init(m, val=1, bias=0.0001)
            if getattr(m, 'running_mean', None) is not None:
                nn.init.zeros_(m.running_mean)
