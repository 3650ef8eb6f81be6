"""MobileNet V2 (Sandler et al., CVPR 2018, arXiv:1801.04381).

Layout: conv1 3x3/2 -> seven layers of inverted residual blocks (the paper's
``(t, c, n, s)`` table) -> conv2 1x1 to 1280. State-dict keys and
``out_indices`` equal mmpretrain 1.2.0's ``MobileNetV2``, so its checkpoints
load strictly; torchvision's weights are a key rename away.
"""
from functools import partial
from typing import Sequence

import torch
from mmengine.model.weight_init import constant_init, kaiming_init
from torch import nn

from mmshuffle.registry import MODELS

from ..utils import check_positive_number, is_batch_norm, make_divisible
from .base import CheckpointedUnit, MobileBackbone, conv_norm_act


class InvertedResidual(CheckpointedUnit):
    """The MobileNet V2 inverted residual block with a linear bottleneck.

    1x1 expand to ``round(in_channels * expand_ratio)`` (BN, act; omitted
    when ``expand_ratio == 1``) -> 3x3 depthwise (BN, act) -> 1x1 project
    (BN, no activation). Identity shortcut when stride is 1 and the widths
    match.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int,
                 expand_ratio: float,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU6'),
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(with_cp, init_cfg)
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, but got {stride}')
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = int(round(in_channels * expand_ratio))
        conv = partial(conv_norm_act, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        layers = []
        if expand_ratio != 1:
            layers.append(conv(in_channels, hidden, act_cfg=act_cfg))
        layers += [
            conv(hidden, hidden, 3, stride, groups=hidden, act_cfg=act_cfg),
            conv(hidden, out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


@MODELS.register_module()
class MobileNetV2(MobileBackbone):
    """MobileNet V2 backbone.

    Outputs (``out_indices``): 0..6 = layer1..layer7 at strides 2, 4, 8, 16,
    16, 32, 32; 7 = conv2 (stride 32). With ``init_cfg=None`` the convs are
    Kaiming-initialised (fan-out) and the norm layers get weight 1 and bias
    0, as in mmpretrain. The arguments every backbone takes are described in
    :class:`~mmshuffle.models.backbones.base.MobileBackbone`.

    Args:
        widen_factor (float): width multiplier, any number > 0 (the paper
            uses 0.35 to 1.4). Widths are rounded to multiples of 8; conv2
            keeps 1280 channels unless ``widen_factor > 1``. Default: 1.0.
        out_indices (Sequence[int]): which outputs to return. Default: (7, ).
        act_cfg (dict): activation config. Default: ``dict(type='ReLU6')``.
    """

    #: (expand ratio t, channels c, blocks n, stride s) of layer1..layer7
    arch_settings = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2),
                     (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                     (6, 320, 1, 1))

    def __init__(self,
                 widen_factor: float = 1.0,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (7, ),
                 frozen_stages: int = -1,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU6'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None,
                 channels_last: bool = False):
        super().__init__(in_channels, out_indices, frozen_stages, norm_eval,
                         with_cp, init_cfg, channels_last)
        check_positive_number('widen_factor', widen_factor)
        self.widen_factor = widen_factor
        self.stem_channels = make_divisible(32 * widen_factor, 8)
        conv = partial(conv_norm_act, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=act_cfg)
        self.conv1 = conv(
            self.in_channels, self.stem_channels, kernel_size=3, stride=2)

        names, specs = [], []
        in_ch, stride_so_far = self.stem_channels, 2
        for i, (t, c, n, s) in enumerate(self.arch_settings):
            out_ch = make_divisible(c * widen_factor, 8)
            blocks = []
            for j in range(n):
                blocks.append(
                    InvertedResidual(
                        in_ch,
                        out_ch,
                        stride=s if j == 0 else 1,
                        expand_ratio=t,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg,
                        with_cp=with_cp))
                in_ch = out_ch
            stride_so_far *= s
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
            names.append(f'layer{i + 1}')
            specs.append((out_ch, stride_so_far))

        self.last_channels = int(1280 * widen_factor) \
            if widen_factor > 1.0 else 1280
        self.conv2 = conv(in_ch, self.last_channels)
        names.append('conv2')
        specs.append((self.last_channels, stride_so_far))
        self._register_layers(names, specs)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x)

    def _default_init(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m, mode='fan_out', nonlinearity='relu')
            elif is_batch_norm(m) or isinstance(m, nn.GroupNorm):
                constant_init(m, val=1, bias=0)
