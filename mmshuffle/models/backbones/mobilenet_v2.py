"""MobileNet V2 (Sandler et al., CVPR 2018, arXiv:1801.04381).

Layout: conv1 3x3/2 -> seven layers of inverted residual blocks (the paper's
``(t, c, n, s)`` table) -> conv2 1x1 to 1280. State-dict keys and
``out_indices`` equal mmpretrain 1.2.0's ``MobileNetV2``, so its checkpoints
load strictly; torchvision's weights are a key rename away.
"""
from typing import Sequence

import torch
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init, kaiming_init
from torch import nn

from mmshuffle.registry import MODELS

from ..utils import check_positive_number, is_batch_norm, make_divisible
from .base import MobileBackbone


class InvertedResidual(BaseModule):
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
        super().__init__(init_cfg)
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, but got {stride}')
        self.with_cp = with_cp
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = int(round(in_channels * expand_ratio))
        layers = []
        if expand_ratio != 1:
            layers.append(
                ConvModule(
                    in_channels,
                    hidden,
                    kernel_size=1,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg))
        layers += [
            ConvModule(
                hidden,
                hidden,
                kernel_size=3,
                stride=stride,
                padding=1,
                groups=hidden,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg),
            ConvModule(
                hidden,
                out_channels,
                kernel_size=1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=None),
        ]
        self.conv = nn.Sequential(*layers)

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


@MODELS.register_module()
class MobileNetV2(MobileBackbone):
    """MobileNet V2 backbone.

    Outputs (``out_indices``): 0..6 = layer1..layer7 at strides 2, 4, 8, 16,
    16, 32, 32; 7 = conv2 (stride 32).

    Args:
        widen_factor (float): width multiplier, any number > 0 (the paper
            uses 0.35 to 1.4). Widths are rounded to multiples of 8; conv2
            keeps 1280 channels unless ``widen_factor > 1``. Default: 1.0.
        in_channels (int): input image channels. Default: 3.
        out_indices (Sequence[int]): which outputs to return. Default: (7, ).
        frozen_stages (int): -1 freezes nothing, 0 the stem, k the stem and
            layer1..layer k (k = 8 includes conv2). Default: -1.
        conv_cfg (dict, optional): convolution config. Default: None.
        norm_cfg (dict): normalisation config. Default: ``dict(type='BN')``.
        act_cfg (dict): activation config. Default: ``dict(type='ReLU6')``.
        norm_eval (bool): keep every BatchNorm in eval mode while training.
            Default: False.
        with_cp (bool): gradient checkpointing of each block. Default: False.
        init_cfg (dict | list[dict], optional): initialisation config; when
            None, Kaiming (fan-out) convs and unit BN, as mmpretrain.
            Default: None.
        channels_last (bool): keep weights and activations in the NHWC
            memory format (the input is converted in ``forward``); outputs
            are the same, CPU training and inference are faster (see
            docs/benchmarks.md). Default: False.
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
        self.conv1 = ConvModule(
            self.in_channels,
            self.stem_channels,
            kernel_size=3,
            stride=2,
            padding=1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)

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
        self.conv2 = ConvModule(
            in_ch,
            self.last_channels,
            kernel_size=1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
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
