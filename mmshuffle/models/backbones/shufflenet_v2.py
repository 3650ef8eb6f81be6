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
from typing import Sequence

import torch
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import nn

from mmshuffle.registry import MODELS

from ..utils import channel_shuffle, check_positive_number, shufflenet_init
from .base import MobileBackbone


class InvertedResidual(BaseModule):
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
        super().__init__(init_cfg)
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
        self.with_cp = with_cp
        self.megvii = megvii

        def conv(cin, cout, k, s=1, dw=False, act=True):
            return ConvModule(
                cin,
                cout,
                kernel_size=k,
                stride=s,
                padding=k // 2,
                groups=cin if dw else 1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg if act else None)

        # megvii: branch1 keeps the input width, branch2 fills the rest
        branch1_out = in_channels if megvii else branch
        branch2_out = out_channels - in_channels \
            if megvii and stride == 2 else branch
        if stride == 2:
            self.branch1 = nn.Sequential(
                conv(in_channels, in_channels, 3, stride, dw=True, act=False),
                conv(in_channels, branch1_out, 1))
        branch2_in = in_channels if stride == 2 else branch
        extra = [conv(branch2_in, branch2_in, 3, dw=True, act=False)
                 ] if extra_dw else []
        self.branch2 = nn.Sequential(
            *extra,
            conv(branch2_in, branch, 1),
            conv(branch, branch, 3, stride, dw=True, act=False),
            conv(branch, branch2_out, 1))

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


@MODELS.register_module()
class ShuffleNetV2(MobileBackbone):
    """ShuffleNet V2 backbone.

    Outputs (``out_indices``): 0, 1, 2 = stages 2, 3, 4 at strides 8, 16,
    32; 3 = conv5 (stride 32).

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
        in_channels (int): input image channels. Default: 3.
        out_indices (Sequence[int]): which outputs to return. Default: (3, ).
        frozen_stages (int): -1 freezes nothing, 0 the stem, k the stem and
            the first k outputs' layers (parameters and BN statistics).
            Default: -1.
        conv_cfg (dict, optional): convolution config. Default: None.
        norm_cfg (dict): normalisation config. Default: ``dict(type='BN')``.
        act_cfg (dict): activation config. Default: ``dict(type='ReLU')``.
        norm_eval (bool): keep every BatchNorm in eval mode while training.
            Default: False.
        with_cp (bool): gradient checkpointing of each unit. Default: False.
        init_cfg (dict | list[dict], optional): initialisation config; when
            None the paper's initialisation is used. Default: None.
        channels_last (bool): keep weights and activations in the NHWC
            memory format (the input is converted in ``forward``); outputs
            are the same, CPU training and inference are faster (see
            docs/benchmarks.md). Default: False.
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
        if not isinstance(extra_dw, bool):
            raise TypeError(f'extra_dw must be a bool, but got {extra_dw!r}')
        if not isinstance(megvii, bool):
            raise TypeError(f'megvii must be a bool, but got {megvii!r}')
        self.widen_factor = widen_factor
        self.extra_dw = extra_dw
        self.megvii = megvii
        *stages, last = self.arch_settings[widen_factor]
        self.stage_channels = tuple(stages)

        self.conv1 = ConvModule(
            self.in_channels,
            self.stem_channels,
            kernel_size=3,
            stride=2,
            padding=1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
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
        self.layers.append(  # conv5
            ConvModule(
                in_ch,
                last,
                kernel_size=1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg))
        specs = [(c, 2**(i + 3)) for i, c in enumerate(stages)] + [(last, 32)]
        self._register_layers([f'layers.{i}' for i in range(len(specs))],
                              specs)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.conv1(x))

    def _default_init(self) -> None:
        shufflenet_init(self)
