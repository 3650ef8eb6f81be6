"""ShuffleNet V2 (Ma et al., ECCV 2018, arXiv:1807.11164).

Layout: conv1 3x3/2 -> maxpool 3x3/2 -> three stages of 4/8/4 units, each
opened by a stride-2 unit -> conv5 1x1. State-dict keys and ``out_indices``
equal mmpretrain 1.2.0's ``ShuffleNetV2`` (conv5 is ``layers.3``), so its
checkpoints load strictly; torchvision's weights are a key rename away.
``megvii=True`` builds the paper authors' own network instead (MEGVII's
ShuffleNet-Series): its units split the channels even/odd, shuffle nothing
after the concatenation, and a stride-2 unit's projection branch keeps its
input width; see :class:`ShuffleNetV2`.
"""
from functools import partial
from typing import Sequence

import torch
from torch import nn

from mmshuffle.registry import MODELS

from ..utils import (channel_shuffle, check_bool, check_positive_number,
                     shufflenet_init)
from .base import CheckpointedUnit, MobileBackbone, conv_norm_act


class InvertedResidual(CheckpointedUnit):
    """The ShuffleNet V2 unit.

    Stride 1: channel split in two halves; the first half is the identity,
    the second goes 1x1 (BN, act) -> 3x3 depthwise (BN) -> 1x1 (BN, act);
    concat; channel shuffle with 2 groups. Stride 2: no split; branch1 is
    3x3 depthwise/2 (BN) -> 1x1 (BN, act), branch2 as above with a stride-2
    depthwise conv; concat doubles the width; shuffle.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels (even).
        stride (int): 1 or 2.
        extra_dw (bool): the paper's detection variant ShuffleNet v2*: one
            more 3x3 depthwise conv (BN, no act) before the first 1x1 conv of
            branch2, which enlarges the receptive field. (branch1 of a
            stride-2 unit already starts with a depthwise conv.)
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 with_cp: bool = False,
                 extra_dw: bool = False,
                 megvii: bool = False,
                 init_cfg=None):
        super().__init__(with_cp, init_cfg)
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, but got {stride}')
        if out_channels % 2:
            raise ValueError(f'out_channels must be even, but got '
                             f'{out_channels}')
        branch = out_channels // 2
        if stride == 1 and in_channels != out_channels:
            raise ValueError('a stride-1 unit needs in_channels == '
                             f'out_channels, but got {in_channels} and '
                             f'{out_channels}')
        self.stride = stride
        self.megvii = megvii
        conv = partial(conv_norm_act, conv_cfg=conv_cfg, norm_cfg=norm_cfg)

        # megvii: branch1 keeps the input width, branch2 fills the rest
        branch1_out = in_channels if megvii else branch
        branch2_out = out_channels - in_channels \
            if megvii and stride == 2 else branch
        if stride == 2:
            self.branch1 = nn.Sequential(
                conv(in_channels, in_channels, 3, stride, groups=in_channels),
                conv(in_channels, branch1_out, act_cfg=act_cfg))
        branch2_in = in_channels if stride == 2 else branch
        extra = [conv(branch2_in, branch2_in, 3, groups=branch2_in)
                 ] if extra_dw else []
        self.branch2 = nn.Sequential(
            *extra,
            conv(branch2_in, branch, act_cfg=act_cfg),
            conv(branch, branch, 3, stride, groups=branch),
            conv(branch, branch2_out, act_cfg=act_cfg))

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        elif self.megvii:
            # the authors' split: even channels pass, odd ones are
            # processed; no shuffle after the concatenation
            return torch.cat((x[:, 0::2], self.branch2(x[:, 1::2])), dim=1)
        else:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        return out if self.megvii else channel_shuffle(out, 2)


@MODELS.register_module()
class ShuffleNetV2(MobileBackbone):
    """ShuffleNet V2 backbone.

    Outputs (``out_indices``): 0, 1, 2 = stages 2, 3, 4 at strides 8, 16,
    32; 3 = conv5 (stride 32). With ``init_cfg=None`` the paper's
    initialisation (:func:`~mmshuffle.models.utils.shufflenet_init`) is
    used. The arguments every backbone takes are described in
    :class:`~mmshuffle.models.backbones.base.MobileBackbone`.

    Args:
        widen_factor (float): one of 0.5, 1.0, 1.5, 2.0. Default: 1.0.
        extra_dw (bool): build the paper's detection variant ShuffleNet v2*
            (an extra 3x3 depthwise conv at the head of every unit's
            branch2). Its state dict differs from the plain network's.
            Default: False.
        megvii (bool): build the paper authors' own network (MEGVII's
            ShuffleNet-Series ``ShuffleNetV2``, whose published weights
            ``tools/model_converters/megvii2mmshuffle.py`` converts): units
            that split the channels even/odd and do not shuffle after the
            concatenation, and stride-2 units whose branch1 keeps the input
            width (first unit of 1x: branches of 24 and 92 channels instead
            of 58 and 58). Same outputs, strides and widths as the default
            network. Default: False.
        out_indices (Sequence[int]): which outputs to return. Default: (3, ).
        act_cfg (dict): activation config. Default: ``dict(type='ReLU')``.
    """

    #: stage 2/3/4 widths and conv5 width per ``widen_factor`` (the paper's)
    arch_settings = {
        0.5: (48, 96, 192, 1024),
        1.0: (116, 232, 464, 1024),
        1.5: (176, 352, 704, 1024),
        2.0: (244, 488, 976, 2048),
    }
    stage_blocks = (4, 8, 4)
    stem_channels = 24

    def __init__(self,
                 widen_factor: float = 1.0,
                 extra_dw: bool = False,
                 megvii: bool = False,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None,
                 channels_last: bool = False):
        super().__init__(in_channels, out_indices, frozen_stages, norm_eval,
                         with_cp, init_cfg, channels_last)
        check_positive_number('widen_factor', widen_factor,
                              self.arch_settings)
        self.widen_factor = widen_factor
        self.extra_dw = check_bool('extra_dw', extra_dw)
        self.megvii = check_bool('megvii', megvii)
        *stages, last = self.arch_settings[widen_factor]
        self.stage_channels = tuple(stages)

        conv = partial(conv_norm_act, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=act_cfg)
        self.conv1 = conv(
            self.in_channels, self.stem_channels, kernel_size=3, stride=2)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        self.layers = nn.ModuleList()
        in_ch = self.stem_channels
        for num_blocks, out_ch in zip(self.stage_blocks, stages):
            units = []
            for j in range(num_blocks):
                units.append(
                    InvertedResidual(
                        in_ch,
                        out_ch,
                        stride=2 if j == 0 else 1,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg,
                        with_cp=with_cp,
                        extra_dw=extra_dw,
                        megvii=megvii))
                in_ch = out_ch
            self.layers.append(nn.Sequential(*units))
        self.layers.append(conv(in_ch, last))  # conv5
        specs = [(c, 2**(i + 3)) for i, c in enumerate(stages)] + [(last, 32)]
        self._register_layers([f'layers.{i}' for i in range(len(specs))],
                              specs)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.conv1(x))

    def _default_init(self) -> None:
        shufflenet_init(self)
