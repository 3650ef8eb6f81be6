"""A feature pyramid sized for mobile backbones."""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmengine.model import BaseModule
from torch import nn

from mmshuffle.registry import MODELS
from ..utils import check_positive_int


@MODELS.register_module()
class LiteFPN(BaseModule):
    """FPN with depthwise-separable output convs.

    Same dataflow as mmdet's ``FPN`` (1x1 laterals, nearest-neighbour
    top-down additions, 3x3 output convs, stride-2 extra levels computed
    from the coarsest output), but every 3x3 conv is depthwise-separable with
    BN, which cuts the neck's cost about 8x at 64-96 channels: with mobile
    backbones the stock 256-channel FPN costs more than the backbone.

    Args:
        in_channels (Sequence[int]): channels of the backbone outputs, finest
            first (use ``backbone.out_channels``).
        out_channels (int): channels of every pyramid level.
        num_outs (int): number of levels returned (>= len(in_channels)); the
            extra ones are stride-2 convs on top.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 num_outs: int,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 init_cfg=dict(
                     type='Kaiming', layer='Conv2d', mode='fan_out')):
        super().__init__(init_cfg)
        if not isinstance(in_channels, (list, tuple)) or not in_channels:
            raise TypeError('in_channels must be a non-empty list of ints, '
                            f'but got {in_channels!r}')
        for c in in_channels:
            check_positive_int('in_channels[i]', c)
        check_positive_int('out_channels', out_channels)
        check_positive_int('num_outs', num_outs)
        if num_outs < len(in_channels):
            raise ValueError(f'num_outs ({num_outs}) must be >= '
                             f'len(in_channels) ({len(in_channels)})')
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = num_outs
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
            for c in in_channels)

        def sep_conv(stride=1):
            return DepthwiseSeparableConvModule(
                out_channels,
                out_channels,
                3,
                stride=stride,
                padding=1,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)

        self.fpn_convs = nn.ModuleList(sep_conv() for _ in in_channels)
        self.extra_convs = nn.ModuleList(
            sep_conv(stride=2) for _ in range(num_outs - len(in_channels)))

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'LiteFPN expects {len(self.in_channels)} '
                             f'feature maps, but got {len(inputs)}')
        laterals: List[torch.Tensor] = [
            conv(x) for conv, x in zip(self.lateral_convs, inputs)
        ]
        for i in range(len(laterals) - 1, 0, -1):
            fine, coarse = laterals[i - 1].shape[2:], laterals[i].shape[2:]
            # the same pixels; a graph traced with a scale factor (ncnn's,
            # through pnnx) keeps working at other input sizes
            size = dict(scale_factor=2.0) if tuple(fine) == (
                2 * coarse[0], 2 * coarse[1]) else dict(size=fine)
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], mode='nearest', **size)
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        for conv in self.extra_convs:
            outs.append(conv(outs[-1]))
        return tuple(outs)
