"""A depthwise path-aggregation neck sized for mobile backbones."""
from typing import Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmdet.models.necks import CSPNeXtPAFPN
from torch import nn

from mmshuffle.registry import MODELS
from ..utils import check_bool, check_positive_int


@MODELS.register_module()
class LitePAFPN(CSPNeXtPAFPN):
    """mmdet's ``CSPNeXtPAFPN`` run at one width, after 1x1 convs that bring
    every backbone output to ``out_channels``.

    ``CSPNeXtPAFPN`` works at the backbone's widths (its CSP blocks, 1x1
    reductions and downsamplings are as wide as each input) and only its
    output convs map to ``out_channels``. That suits backbones whose
    outputs are as narrow as the detector's neck (MobileNet V2: 32, 96 and
    320 channels), not ShuffleNet V1 1x g3's 240, 480 and 960: there, at
    320x320 and 96 channels, the RTMDet-lite detector costs 1.71 G
    multiply-adds with ``CSPNeXtPAFPN`` and 0.56 G with this neck (see
    docs/detection.md). Like NanoDet-Plus's Ghost-PAN, this neck first
    reduces each input with a 1x1 conv (BN, activation), so only those
    convs grow with the backbone's width; the top-down and bottom-up CSP
    paths are ``CSPNeXtPAFPN``'s, at ``out_channels`` (depthwise-separable
    with ``use_depthwise=True``).

    The top-down path upsamples by 2, so the inputs' sizes must halve
    exactly from level to level: pad the image to a multiple of the
    coarsest stride (``DetDataPreprocessor(pad_size_divisor=32)``). The
    arguments not listed are ``CSPNeXtPAFPN``'s.

    Args:
        in_channels (Sequence[int]): channels of the backbone outputs,
            finest first (use ``backbone.out_channels``).
        out_channels (int): channels of the neck (every level).
        num_csp_blocks (int): blocks per CSP layer. Default: 1.
        use_depthwise (bool): depthwise-separable 3x3 convs in the CSP
            blocks, downsamplings and output convs. Default: True.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 num_csp_blocks: int = 1,
                 use_depthwise: bool = True,
                 expand_ratio: float = 0.5,
                 upsample_cfg=dict(scale_factor=2, mode='nearest'),
                 conv_cfg=None,
                 norm_cfg=dict(type='BN', momentum=0.03, eps=0.001),
                 act_cfg=dict(type='Swish'),
                 **kwargs):
        if not isinstance(in_channels, (list, tuple)) or len(in_channels) < 2:
            raise TypeError('in_channels must be a list of at least 2 ints, '
                            f'but got {in_channels!r}')
        for c in in_channels:
            check_positive_int('in_channels[i]', c)
        check_positive_int('out_channels', out_channels)
        check_positive_int('num_csp_blocks', num_csp_blocks)
        check_bool('use_depthwise', use_depthwise)
        super().__init__(
            [out_channels] * len(in_channels),
            out_channels,
            num_csp_blocks=num_csp_blocks,
            use_depthwise=use_depthwise,
            expand_ratio=expand_ratio,
            upsample_cfg=upsample_cfg,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            **kwargs)
        self.in_channels = list(in_channels)
        self.input_convs = nn.ModuleList(
            ConvModule(
                c,
                out_channels,
                1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg) for c in in_channels)

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'LitePAFPN expects {len(self.in_channels)} '
                             f'feature maps, but got {len(inputs)}')
        for i in range(1, len(inputs)):
            fine, coarse = inputs[i - 1].shape[-2:], inputs[i].shape[-2:]
            if tuple(fine) != (2 * coarse[0], 2 * coarse[1]):
                raise ValueError(
                    f'LitePAFPN needs each feature map twice the size of '
                    f'the next one, but got {tuple(fine)} and '
                    f'{tuple(coarse)}: pad the images to a multiple of the '
                    'coarsest stride (pad_size_divisor)')
        return super().forward(
            tuple(conv(x) for conv, x in zip(self.input_convs, inputs)))
