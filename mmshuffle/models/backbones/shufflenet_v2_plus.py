"""ShuffleNetV2+ (MEGVII's ShuffleNet-Series, MIT licence).

The paper authors' strengthened ShuffleNet V2: hard-swish after the first
stage, squeeze-excitation (hard-sigmoid gate) in the last two stages, 3x3,
5x5 and 7x7 depthwise convs and Xception-style units chosen per unit by a
one-shot architecture search, and no max-pool after the 3x3/2 stem, so its
four stages come at strides 4, 8, 16 and 32.

Layout: conv1 3x3/2 (BN, hard-swish) -> four stages of 4/4/8/4 units, each
opened by a stride-2 unit -> conv_last 1x1 (1280, BN, hard-swish). A
stride-1 unit sends the even channels of its input through unchanged and
the odd ones through its main branch, then concatenates (this split is the
unit's channel shuffle); a stride-2 unit concatenates a projection branch
(depthwise/2 -> 1x1, ``in_channels`` wide) with its main branch
(``out_channels - in_channels`` wide). The classifier past conv_last is
:class:`mmshuffle.GlobalAveragePoolingSE` (neck) and
:class:`mmshuffle.BiasFreeClsHead` (head); with them the network computes
exactly what MEGVII's ``ShuffleNetV2_Plus`` computes, and
``tools/model_converters/megvii2mmshuffle.py`` converts its weights.
"""
from functools import partial
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import build_conv_layer
from mmengine.model import BaseModule
from torch import nn

from mmshuffle.registry import MODELS

from ..utils import check_positive_int, shufflenet_init
from .base import CheckpointedUnit, MobileBackbone, conv_norm_act


class SELayer(BaseModule):
    """Squeeze-excitation with a hard-sigmoid gate, as in ShuffleNetV2+.

    ``x * hsigmoid(conv2(relu(bn(conv1(avgpool(x))))))`` with bias-free
    1x1 convs and a ``channels // reduction`` bottleneck; ``conv1`` is a
    ``ConvModule`` (conv, BN, ReLU), so deploy mode folds its BatchNorm.
    The gate is ``clamp(x + 3, 0, 6) / 6``.

    Args:
        channels (int): input (and output) channels.
        reduction (int): bottleneck ratio. Default: 4.
    """

    def __init__(self,
                 channels: int,
                 reduction: int = 4,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 init_cfg=None):
        super().__init__(init_cfg)
        channels = check_positive_int('channels', channels)
        reduction = check_positive_int('reduction', reduction)
        if channels % reduction:
            raise ValueError(f'channels ({channels}) must be divisible by '
                             f'reduction ({reduction})')
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = conv_norm_act(
            channels, channels // reduction,
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = build_conv_layer(
            conv_cfg, channels // reduction, channels, 1, bias=False)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.conv2(self.conv1(self.pool(x))))


class ShuffleNetV2PlusUnit(CheckpointedUnit):
    """One ShuffleNetV2+ unit.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels (even; equal to
            ``in_channels`` at stride 1).
        stride (int): 1 or 2.
        block (int): 0, 1, 2: ShuffleNet unit with a 3x3, 5x5, 7x7
            depthwise conv (1x1 -> depthwise -> 1x1); 3: Xception-style unit
            (three depthwise 3x3 + 1x1 pairs).
        with_se (bool): squeeze-excitation on the main branch's output.
        act_cfg (dict): activation after each 1x1 conv (ReLU in the first
            stage, hard-swish after).
        mid_channels (int, optional): width inside the main branch.
            Default: None, ``out_channels // 2`` (the searched networks of
            OneShot scale it per unit).
    """

    KERNELS = (3, 5, 7, 3)

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int,
                 block: int,
                 with_se: bool = False,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 with_cp: bool = False,
                 init_cfg=None,
                 mid_channels: Optional[int] = None):
        super().__init__(with_cp, init_cfg)
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, but got {stride}')
        if isinstance(block, bool) or block not in (0, 1, 2, 3):
            raise ValueError(f'block must be one of [0, 1, 2, 3], but got '
                             f'{block!r}')
        if out_channels % 2:
            raise ValueError(f'out_channels must be even, but got '
                             f'{out_channels}')
        if stride == 1 and in_channels != out_channels:
            raise ValueError('a stride-1 unit needs in_channels == '
                             f'out_channels, but got {in_channels} and '
                             f'{out_channels}')
        self.stride = stride
        self.block = block
        # the main branch sees the whole input at stride 2, the odd
        # channels at stride 1, and fills the output up to out_channels
        main_in = in_channels if stride == 2 else in_channels // 2
        mid = out_channels // 2 if mid_channels is None else \
            check_positive_int('mid_channels', mid_channels)
        main_out = out_channels - main_in
        kernel = self.KERNELS[block]
        conv = partial(conv_norm_act, conv_cfg=conv_cfg, norm_cfg=norm_cfg)

        if block == 3:
            main = [
                conv(main_in, main_in, 3, stride, groups=main_in),
                conv(main_in, mid, act_cfg=act_cfg),
                conv(mid, mid, 3, groups=mid),
                conv(mid, mid, act_cfg=act_cfg),
                conv(mid, mid, 3, groups=mid),
                conv(mid, main_out, act_cfg=act_cfg),
            ]
        else:
            main = [
                conv(main_in, mid, act_cfg=act_cfg),
                conv(mid, mid, kernel, stride, groups=mid),
                conv(mid, main_out, act_cfg=act_cfg),
            ]
        self.branch_main = nn.Sequential(*main)
        self.se = SELayer(
            main_out, conv_cfg=conv_cfg, norm_cfg=norm_cfg) if with_se \
            else None
        if stride == 2:
            self.branch_proj = nn.Sequential(
                conv(in_channels, in_channels, kernel, 2, groups=in_channels),
                conv(in_channels, in_channels, act_cfg=act_cfg))

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            proj = self.branch_proj(x)
        else:
            proj, x = x[:, 0::2], x[:, 1::2]
        out = self.branch_main(x)
        if self.se is not None:
            out = self.se(out)
        return torch.cat((proj, out), dim=1)


def check_block_choices(block_choices, num_units: int) -> Tuple[int, ...]:
    """Validate a searched network's per-unit choices (0, 1, 2: ShuffleNet
    unit with a 3x3, 5x5, 7x7 depthwise conv; 3: Xception-style unit)."""
    if not isinstance(block_choices, (list, tuple)) or \
            len(block_choices) != num_units or any(
                isinstance(b, bool) or b not in (0, 1, 2, 3)
                for b in block_choices):
        raise ValueError(f'block_choices must be a list or tuple of '
                         f'{num_units} ints in [0, 1, 2, 3], but got '
                         f'{block_choices!r}')
    return tuple(int(b) for b in block_choices)


class SearchedShuffleNet(MobileBackbone):
    """The layout the paper authors' searched ShuffleNet networks share
    (ShuffleNetV2+, DetNAS, OneShot): a 3x3/2 stem, four stages of
    :class:`ShuffleNetV2PlusUnit` (each opened by a stride-2 unit, its kind
    chosen per unit), a 1x1 ``conv_last``. Outputs: 0-3 = the four stages
    at strides 4, 8, 16, 32; 4 = conv_last (stride 32). Subclasses call
    :meth:`_build` with their widths and choices."""

    def _build(self,
               stem: int,
               stages: Sequence[int],
               last: int,
               stage_blocks: Sequence[int],
               block_choices: Sequence[int],
               stage_acts: Sequence[dict],
               stem_act: dict,
               last_act: dict,
               se_stages: Sequence[int] = (),
               mid_channels: Optional[List[int]] = None,
               conv_bias: bool = False,
               conv_cfg=None,
               norm_cfg=dict(type='BN'),
               with_cp: bool = False) -> None:
        self.stage_blocks = tuple(stage_blocks)
        self.block_choices = check_block_choices(block_choices,
                                                 sum(self.stage_blocks))
        self.stem_channels = stem
        self.stage_channels = tuple(stages)
        # the stem's and conv_last's convolutions: biased in DetNAS
        bias = True if conv_bias else 'auto'
        conv = partial(conv_norm_act, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.conv1 = conv(self.in_channels, stem, kernel_size=3, stride=2,
                          act_cfg=stem_act, bias=bias)
        self.layers = nn.ModuleList()
        in_ch, unit = stem, 0
        for i, (num_blocks, out_ch) in enumerate(
                zip(self.stage_blocks, stages)):
            units = []
            for j in range(num_blocks):
                units.append(
                    ShuffleNetV2PlusUnit(
                        in_ch,
                        out_ch,
                        stride=2 if j == 0 else 1,
                        block=self.block_choices[unit],
                        with_se=i in se_stages,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg,
                        act_cfg=stage_acts[i],
                        with_cp=with_cp,
                        mid_channels=None if mid_channels is None else
                        mid_channels[unit]))
                in_ch, unit = out_ch, unit + 1
            self.layers.append(nn.Sequential(*units))
        self.layers.append(conv(in_ch, last, act_cfg=last_act,
                                bias=bias))  # conv_last
        specs = [(c, 2**(i + 2)) for i, c in enumerate(stages)] + [(last, 32)]
        self._register_layers([f'layers.{i}' for i in range(len(specs))],
                              specs)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x)

    def _default_init(self) -> None:
        shufflenet_init(self)


@MODELS.register_module()
class ShuffleNetV2Plus(SearchedShuffleNet):
    """ShuffleNetV2+ backbone (see the module docstring).

    Outputs (``out_indices``): 0, 1, 2, 3 = the four stages at strides 4,
    8, 16, 32; 4 = conv_last (1280 channels, stride 32). With
    ``init_cfg=None`` the authors' initialisation
    (:func:`~mmshuffle.models.utils.shufflenet_init`) is used. The
    arguments every backbone takes are described in
    :class:`~mmshuffle.models.backbones.base.MobileBackbone`.

    Args:
        arch (str): 'small', 'medium' or 'large' (stage widths 36/104/208/
            416, 48/128/256/512, 68/168/336/672). Default: 'large'.
        block_choices (Sequence[int], optional): the 20 units' kinds (0, 1,
            2: ShuffleNet unit with a 3x3, 5x5, 7x7 depthwise conv; 3:
            Xception-style unit). Default: None, the authors' published
            choice ``(0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1,
            3, 2)``.
        out_indices (Sequence[int]): which outputs to return. Default: (4, ).

    The activations are fixed by the architecture (ReLU in the first stage
    and in the squeeze-excitation bottlenecks, hard-swish elsewhere), so
    there is no ``act_cfg``.
    """

    #: stem width, four stage widths, conv_last width
    arch_settings = {
        'small': (16, (36, 104, 208, 416), 1280),
        'medium': (16, (48, 128, 256, 512), 1280),
        'large': (16, (68, 168, 336, 672), 1280),
    }
    stage_blocks = (4, 4, 8, 4)
    #: the authors' block choice (from their one-shot search)
    default_block_choices = (0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0,
                             2, 1, 3, 2)

    def __init__(self,
                 arch: str = 'large',
                 block_choices: Sequence[int] = None,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (4, ),
                 frozen_stages: int = -1,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None,
                 channels_last: bool = False):
        super().__init__(in_channels, out_indices, frozen_stages, norm_eval,
                         with_cp, init_cfg, channels_last)
        if not isinstance(arch, str) or arch not in self.arch_settings:
            raise ValueError(f'arch must be one of '
                             f'{sorted(self.arch_settings)}, but got '
                             f'{arch!r}')
        if block_choices is None:
            block_choices = self.default_block_choices
        self.arch = arch
        stem, stages, last = self.arch_settings[arch]
        relu, hswish = dict(type='ReLU'), dict(type='HSwish')
        self._build(
            stem, stages, last, self.stage_blocks, block_choices,
            stage_acts=(relu, hswish, hswish, hswish), stem_act=hswish,
            last_act=hswish, se_stages=(2, 3), conv_cfg=conv_cfg,
            norm_cfg=norm_cfg, with_cp=with_cp)
