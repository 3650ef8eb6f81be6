"""ShuffleNet V1 (Zhang et al., CVPR 2018, arXiv:1707.01083).

Layout: conv1 3x3/2 -> maxpool 3x3/2 -> three stages of 4/8/4 ShuffleUnits,
each stage opened by a stride-2 unit. State-dict keys and ``out_indices``
equal mmpretrain 1.2.0's ``ShuffleNetV1``, so its checkpoints load strictly.
``megvii=True`` builds the paper authors' own network (MEGVII's
ShuffleNet-Series), whose shuffle is the transpose of the usual one.
"""
import math
from functools import partial
from typing import List, Sequence, Tuple

import torch
from mmcv.cnn import build_activation_layer
from torch import nn

from mmshuffle.registry import MODELS

from ..utils import (channel_shuffle, check_bool, check_positive_number,
                     make_divisible, shufflenet_init)
from .base import CheckpointedUnit, MobileBackbone, conv_norm_act


class ShuffleUnit(CheckpointedUnit):
    """The ShuffleNet V1 unit.

    Main branch: 1x1 group conv (BN, act) -> 3x3 depthwise conv (BN) ->
    channel shuffle -> 1x1 group conv (BN). Stride 1 adds the identity and
    applies the activation; stride 2 concatenates a 3x3/2 average-pooled
    shortcut with the activated main branch, whose width is then
    ``out_channels - in_channels``.

    The paper shuffles right after the first group conv; shuffling after the
    depthwise conv (as here and in mmpretrain) is the same function with the
    depthwise filters permuted, because a depthwise conv acts per channel.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels of the unit.
        groups (int): groups of the 1x1 convolutions.
        first_block (bool): the first unit of the network; its first 1x1
            conv is not grouped (its input has only the stem's channels).
        stride (int): 1 (residual add) or 2 (concat with pooled shortcut).
        shuffle (bool): apply the channel shuffle (False reproduces the
            paper's no-shuffle ablation).
        megvii (bool): shuffle as the authors' code does: the transpose of
            the usual shuffle, i.e. channels viewed as ``(C / g, g)`` and
            transposed to ``(g, C / g)``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 groups: int,
                 first_block: bool = False,
                 stride: int = 1,
                 shuffle: bool = True,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 with_cp: bool = False,
                 megvii: bool = False,
                 init_cfg=None):
        super().__init__(with_cp, init_cfg)
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, but got {stride}')
        if stride == 1 and in_channels != out_channels:
            raise ValueError('a stride-1 ShuffleUnit needs in_channels == '
                             f'out_channels, but got {in_channels} and '
                             f'{out_channels}')
        self.stride = stride
        self.groups = groups
        self.shuffle = shuffle
        bottleneck = out_channels // 4
        # the transposed shuffle is the usual one with C / g groups
        self.shuffle_groups = bottleneck // groups if megvii else groups
        branch_out = out_channels - in_channels if stride == 2 \
            else out_channels
        first_groups = 1 if first_block else groups
        for what, value, divisor in (
                ('in_channels', in_channels, first_groups),
                ('bottleneck channels', bottleneck, groups),
                ('main-branch output channels', branch_out, groups)):
            if value <= 0 or value % divisor:
                raise ValueError(
                    f'ShuffleUnit({in_channels} -> {out_channels}, groups='
                    f'{groups}): {what} ({value}) must be a positive '
                    f'multiple of {divisor}')

        conv = partial(conv_norm_act, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.g_conv_1x1_compress = conv(
            in_channels, bottleneck, groups=first_groups, act_cfg=act_cfg)
        self.depthwise_conv3x3_bn = conv(
            bottleneck, bottleneck, 3, stride, groups=bottleneck)
        self.g_conv_1x1_expand = conv(bottleneck, branch_out, groups=groups)
        if stride == 2:
            self.avgpool = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
        self.act = build_activation_layer(act_cfg) if act_cfg \
            else nn.Identity()

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.g_conv_1x1_compress(x)
        out = self.depthwise_conv3x3_bn(out)
        if self.shuffle and self.groups > 1:
            out = channel_shuffle(out, self.shuffle_groups)
        out = self.g_conv_1x1_expand(out)
        if self.stride == 2:
            # The shortcut is pooled from a ReLU output, hence already
            # non-negative: act(cat(a, b)) == cat(a, act(b)).
            return torch.cat((self.avgpool(x), self.act(out)), dim=1)
        return self.act(x + out)


def shufflenet_v1_channels(groups: int,
                           widen_factor: float) -> Tuple[int, List[int]]:
    """Stem and stage widths of ShuffleNet V1 for ``groups`` and width.

    Stage widths are the paper's 1x widths times ``widen_factor`` rounded to
    a multiple of 8 (mmpretrain's rule), and the stem is ``int(24 * w)``.
    Where that makes a group conv impossible (a bottleneck, ``width / 4``,
    not divisible by ``groups``, or a stem not divisible by ``groups``), the
    stage width is rounded to a multiple of ``lcm(8, 4 * groups)`` instead
    and the stem up to a multiple of ``groups``. Every combination mmpretrain
    can build is left unchanged by this rule; the others (0.25x g3/g4/g8,
    0.5x g4/g8, 1.5x g4/g8) become buildable.
    """
    base = ShuffleNetV1.arch_settings[groups]
    stem = int(24 * widen_factor)
    if stem % groups:
        stem += groups - stem % groups
    step = 8 * 4 * groups // math.gcd(8, 4 * groups)
    stages = []
    for width in base:
        channels = make_divisible(width * widen_factor, 8)
        if channels % (4 * groups):
            channels = make_divisible(width * widen_factor, step)
        stages.append(channels)
    return stem, stages


@MODELS.register_module()
class ShuffleNetV1(MobileBackbone):
    """ShuffleNet V1 backbone.

    Outputs (``out_indices``): 0, 1, 2 = stages 2, 3, 4 at strides 8, 16, 32.
    With ``init_cfg=None`` the paper's initialisation
    (:func:`~mmshuffle.models.utils.shufflenet_init`) is used. The
    arguments every backbone takes are described in
    :class:`~mmshuffle.models.backbones.base.MobileBackbone`.

    Args:
        groups (int): groups of the 1x1 convolutions, one of 1, 2, 3, 4, 8.
            Default: 3.
        widen_factor (float): width multiplier, one of 0.25, 0.5, 1.0, 1.5,
            2.0. Default: 1.0.
        shuffle (bool): channel shuffle on (the paper) or off (its ablation).
            Default: True.
        megvii (bool): build the paper authors' own network (MEGVII's
            ShuffleNet-Series ``ShuffleNetV1``, whose published weights
            ``tools/model_converters/megvii2mmshuffle.py`` converts): the
            shuffle is the transpose of the usual one and the stem has the
            authors' width (24 channels at 1.5x instead of 36). Only
            ``groups`` 3 and 8 with ``widen_factor`` 0.5, 1.0, 1.5, 2.0 (the
            published networks). Default: False.
        out_indices (Sequence[int]): which stages to return. Default: (2, ).
        act_cfg (dict): activation config. Default: ``dict(type='ReLU')``.
    """

    #: the paper's stage widths at 1x, per number of groups
    arch_settings = {
        1: (144, 288, 576),
        2: (200, 400, 800),
        3: (240, 480, 960),
        4: (272, 544, 1088),
        8: (384, 768, 1536),
    }
    widen_factors = (0.25, 0.5, 1.0, 1.5, 2.0)
    #: stem widths of the authors' networks, per (groups, widen_factor);
    #: their stage widths are :func:`shufflenet_v1_channels`'
    megvii_stems = {
        (3, 0.5): 12, (3, 1.0): 24, (3, 1.5): 24, (3, 2.0): 48,
        (8, 0.5): 16, (8, 1.0): 24, (8, 1.5): 24, (8, 2.0): 48,
    }
    stage_blocks = (4, 8, 4)

    def __init__(self,
                 groups: int = 3,
                 widen_factor: float = 1.0,
                 shuffle: bool = True,
                 megvii: bool = False,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (2, ),
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
        if isinstance(groups, bool) or groups not in self.arch_settings:
            raise ValueError(f'groups must be one of '
                             f'{sorted(self.arch_settings)}, but got '
                             f'{groups!r}')
        check_positive_number('widen_factor', widen_factor,
                              self.widen_factors)
        check_bool('shuffle', shuffle)
        check_bool('megvii', megvii)
        if megvii and (groups, widen_factor) not in self.megvii_stems:
            raise ValueError(
                'megvii=True exists for groups 3 and 8 with widen_factor '
                f'0.5, 1.0, 1.5 or 2.0 only, but got groups={groups}, '
                f'widen_factor={widen_factor}')
        self.groups = groups
        self.widen_factor = widen_factor
        self.shuffle = shuffle
        self.megvii = megvii

        stem, stages = shufflenet_v1_channels(groups, widen_factor)
        if megvii:
            stem = self.megvii_stems[(groups, widen_factor)]
        self.stem_channels = stem
        self.stage_channels = tuple(stages)
        self.conv1 = conv_norm_act(
            self.in_channels, stem, kernel_size=3, stride=2,
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        self.layers = nn.ModuleList()
        in_ch = stem
        for i, (num_blocks, out_ch) in enumerate(
                zip(self.stage_blocks, stages)):
            units = []
            for j in range(num_blocks):
                units.append(
                    ShuffleUnit(
                        in_ch,
                        out_ch,
                        groups=groups,
                        first_block=(i == 0 and j == 0),
                        stride=2 if j == 0 else 1,
                        shuffle=shuffle,
                        megvii=megvii,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg,
                        with_cp=with_cp))
                in_ch = out_ch
            self.layers.append(nn.Sequential(*units))
        self._register_layers(
            [f'layers.{i}' for i in range(len(stages))],
            [(c, 2**(i + 3)) for i, c in enumerate(stages)])

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.conv1(x))

    def _default_init(self) -> None:
        shufflenet_init(self)
