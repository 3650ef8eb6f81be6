"""ShuffleNetV2.Large and ShuffleNetV2.ExLarge (MEGVII's ShuffleNet-Series,
MIT licence): the paper authors' ShuffleNet V2 scaled to 12.7G and 46.2G
FLOPs (top-1 81.44 and 84.48 in their README).

Both have a deep stem (three 3x3 convs, the first of stride 2, then a 3x3/2
max-pool), four stages at strides 4, 8, 16, 32 (the first keeps the stem's
resolution) of ShuffleNet V2 units with a grouped 3x3 convolution and
squeeze-excitation (two fully connected layers, sigmoid gate) in every unit,
and, while training, three auxiliary classifiers on the first three stages
(:class:`mmshuffle.DeeplySupervisedClsHead`).

- **Large** (:class:`ShuffleNetV2Large`): stages of 10/10/23/10 units,
  256/512/1024/2048 channels, 8 groups; every unit splits its input into
  even and odd channels; the first unit of a stage replaces the even half by
  a 3x3 projection (stride 2 from the second stage on, then a 1x1 conv over
  the concatenation), the others add the odd half back to the main branch
  (a residual); ReLU after the concatenation; conv_last 3x3 to 1280.
  BatchNorm eps 1e-9, as the authors train it.
- **ExLarge** (:class:`ShuffleNetV2ExLarge`): stages of 8/16/36/10 units,
  320/640/1280/2560 channels, 16 groups, a depthwise 3x3 after the grouped
  one; the first unit of a stage projects the whole input (3x3 conv, BN,
  ReLU), the others split it and add the odd half back (then ReLU); a 1x1
  conv closes each stage; no conv_last.

With the classifiers of their ``_megvii-in1k`` configs they compute what
MEGVII's code computes, and ``tools/model_converters/megvii2mmshuffle.py``
converts their weights.
"""
from functools import partial
from typing import Optional, Sequence

import torch
from torch import nn

from mmshuffle.registry import MODELS

from ..utils import check_positive_int, shufflenet_init
from .base import CheckpointedUnit, MobileBackbone, conv_norm_act
from .shufflenet_searched import check_stage_blocks

RELU = dict(type='ReLU')


class LinearSE(nn.Module):
    """Squeeze-excitation with fully connected layers and a sigmoid gate:
    ``x * sigmoid(fc2(relu(fc1(mean(x)))))`` (biased layers)."""

    def __init__(self, channels: int, mid_channels: int):
        super().__init__()
        self.fc1 = nn.Linear(channels, mid_channels)
        self.fc2 = nn.Linear(mid_channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.sigmoid(
            self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * scale[:, :, None, None]


class LargeUnit(CheckpointedUnit):
    """One ShuffleNetV2.Large unit.

    The input (``2 * in_channels`` wide) is split into even (projection
    side) and odd (main side) channels; the main branch is 1x1 -> grouped
    3x3 (``stride``) -> 1x1, ``channels`` wide, with squeeze-excitation.
    With ``has_proj`` the even half goes through a 3x3 conv (``stride``, BN,
    no activation), otherwise it passes unchanged and the odd half is added
    to the main branch. The concatenation (``2 * channels``) goes through a
    ReLU, and at stride 2 through a 1x1 conv (BN, ReLU).
    """

    def __init__(self, in_channels: int, channels: int, stride: int,
                 groups: int, has_proj: bool, conv_cfg=None,
                 norm_cfg=dict(type='BN'), with_cp: bool = False):
        super().__init__(with_cp)
        if not has_proj and (stride != 1 or in_channels != channels):
            raise ValueError('a unit without projection needs stride 1 and '
                             f'in_channels == channels, but got stride '
                             f'{stride}, {in_channels} and {channels}')
        self.stride = stride
        conv = partial(conv_norm_act, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.proj = conv(in_channels, channels, 3, stride) if has_proj \
            else None
        self.branch_main = nn.Sequential(
            conv(in_channels, channels, act_cfg=RELU),
            conv(channels, channels, 3, stride, groups=groups,
                 act_cfg=RELU),
            conv(channels, channels))
        self.se = LinearSE(channels, channels)
        self.down = conv(2 * channels, 2 * channels, act_cfg=RELU) \
            if stride == 2 else None

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        proj, x = x[:, 0::2], x[:, 1::2]
        out = self.se(self.branch_main(x))
        if self.proj is None:
            out = out + x
        else:
            proj = self.proj(proj)
        out = torch.relu(torch.cat((proj, out), dim=1))
        return out if self.down is None else self.down(out)


class ExLargeUnit(CheckpointedUnit):
    """One ShuffleNetV2.ExLarge unit, ``out_channels`` wide.

    With ``has_proj`` the whole input feeds both branches and the
    projection is a 3x3 conv (``stride``, BN, ReLU) to ``out_channels -
    out_channels // 2``; otherwise the input is split into even
    (passed unchanged) and odd channels, and the odd ones are added to the
    main branch before a ReLU. The main branch is 1x1 -> grouped 3x3
    (``stride``) -> depthwise 3x3 -> 1x1 to ``out_channels // 2``, with
    squeeze-excitation (a quarter-wide bottleneck).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 groups: int, has_proj: bool, conv_cfg=None,
                 norm_cfg=dict(type='BN'), with_cp: bool = False):
        super().__init__(with_cp)
        mid = out_channels // 2
        if not has_proj and (stride != 1 or in_channels != mid):
            raise ValueError('a unit without projection needs stride 1 and '
                             'in_channels == out_channels // 2, but got '
                             f'stride {stride}, {in_channels} and '
                             f'{out_channels}')
        conv = partial(conv_norm_act, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.proj = conv(in_channels, out_channels - mid, 3, stride,
                         act_cfg=RELU) if has_proj else None
        self.branch_main = nn.Sequential(
            conv(in_channels, out_channels, act_cfg=RELU),
            conv(out_channels, out_channels, 3, stride, groups=groups,
                 act_cfg=RELU),
            conv(out_channels, out_channels, 3, groups=out_channels),
            conv(out_channels, mid))
        self.se = LinearSE(mid, mid // 4)

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            return torch.cat((self.proj(x), self.se(self.branch_main(x))),
                             dim=1)
        proj, x = x[:, 0::2], x[:, 1::2]
        out = torch.relu(self.se(self.branch_main(x)) + x)
        return torch.cat((proj, out), dim=1)


class _LargeBase(MobileBackbone):
    """The deep stem and the layout both large networks share."""

    stem_names = ('stem', )

    def _build_stem(self, widths, conv_cfg, norm_cfg) -> None:
        conv = partial(conv_norm_act, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=RELU)
        self.stem = nn.Sequential(
            conv(self.in_channels, widths[0], 3, 2),
            conv(widths[0], widths[1], 3), conv(widths[1], widths[2], 3))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.stem(x))

    def _default_init(self) -> None:
        shufflenet_init(self)


def check_groups(groups, widths) -> int:
    """``groups`` of the units' grouped 3x3 conv: it must divide every
    width the conv has."""
    groups = check_positive_int('groups', groups)
    if any(w % groups for w in widths):
        raise ValueError(f'groups must divide the widths of the grouped '
                         f'convs {tuple(widths)}, but got {groups}')
    return groups


def _norm_cfg(norm_cfg, eps: float) -> dict:
    """The arch's BatchNorm (its eps) unless the user names one."""
    return dict(type='BN', eps=eps) if norm_cfg is None else norm_cfg


@MODELS.register_module()
class ShuffleNetV2Large(_LargeBase):
    """ShuffleNetV2.Large backbone (see the module docstring).

    Outputs (``out_indices``): 0, 1, 2, 3 = the four stages (256, 512,
    1024, 2048 channels) at strides 4, 8, 16, 32; 4 = conv_last (1280
    channels, stride 32). With ``init_cfg=None`` the authors'
    initialisation (:func:`~mmshuffle.models.utils.shufflenet_init`) is
    used. The arguments every backbone takes are described in
    :class:`~mmshuffle.models.backbones.base.MobileBackbone`.

    Args:
        stage_blocks (Sequence[int], optional): units per stage, for small
            test networks. Default: None, the authors' 10/10/23/10.
        groups (int): groups of each unit's 3x3 conv. Default: 8.
        norm_cfg (dict, optional): normalisation. Default: None, BatchNorm
            with the authors' eps 1e-9.
        out_indices (Sequence[int]): which outputs to return. Default: (4, ).
    """

    default_stage_blocks = (10, 10, 23, 10)
    #: the width of each stage's units' branches (a stage is twice as wide)
    branch_channels = (128, 256, 512, 1024)
    stem_widths = (64, 64, 128)

    def __init__(self,
                 stage_blocks: Optional[Sequence[int]] = None,
                 groups: int = 8,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (4, ),
                 frozen_stages: int = -1,
                 conv_cfg=None,
                 norm_cfg=None,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None,
                 channels_last: bool = False):
        super().__init__(in_channels, out_indices, frozen_stages, norm_eval,
                         with_cp, init_cfg, channels_last)
        self.stage_blocks = check_stage_blocks(stage_blocks,
                                               self.default_stage_blocks)
        self.groups = check_groups(groups, self.branch_channels)
        norm_cfg = _norm_cfg(norm_cfg, 1e-9)
        self._build_stem(self.stem_widths, conv_cfg, norm_cfg)
        self.layers = nn.ModuleList()
        half = self.stem_widths[-1] // 2
        for i, (num, width) in enumerate(
                zip(self.stage_blocks, self.branch_channels)):
            units = []
            for j in range(num):
                units.append(LargeUnit(
                    half, width, 2 if i > 0 and j == 0 else 1, self.groups,
                    has_proj=j == 0, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                    with_cp=with_cp))
                half = width
            self.layers.append(nn.Sequential(*units))
        self.layers.append(conv_norm_act(
            2 * half, 1280, 3, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
            act_cfg=RELU))  # conv_last
        specs = [(2 * c, 2**(i + 2))
                 for i, c in enumerate(self.branch_channels)] + [(1280, 32)]
        self._register_layers([f'layers.{i}' for i in range(5)], specs)


@MODELS.register_module()
class ShuffleNetV2ExLarge(_LargeBase):
    """ShuffleNetV2.ExLarge backbone (see the module docstring).

    Outputs (``out_indices``): 0, 1, 2, 3 = the four stages (320, 640,
    1280, 2560 channels) at strides 4, 8, 16, 32, each closed by a 1x1 conv.
    With ``init_cfg=None`` the authors' initialisation
    (:func:`~mmshuffle.models.utils.shufflenet_init`) is used. The
    arguments every backbone takes are described in
    :class:`~mmshuffle.models.backbones.base.MobileBackbone`.

    Args:
        stage_blocks (Sequence[int], optional): units per stage, for small
            test networks. Default: None, the authors' 8/16/36/10.
        groups (int): groups of each unit's 3x3 conv. Default: 16.
        norm_cfg (dict, optional): normalisation. Default: None, BatchNorm
            with torch's eps (1e-5), as the authors train it.
        out_indices (Sequence[int]): which outputs to return. Default: (3, ).
    """

    default_stage_blocks = (8, 16, 36, 10)
    stage_channels = (320, 640, 1280, 2560)
    stem_widths = (64, 128, 256)

    def __init__(self,
                 stage_blocks: Optional[Sequence[int]] = None,
                 groups: int = 16,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 conv_cfg=None,
                 norm_cfg=None,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None,
                 channels_last: bool = False):
        super().__init__(in_channels, out_indices, frozen_stages, norm_eval,
                         with_cp, init_cfg, channels_last)
        self.stage_blocks = check_stage_blocks(stage_blocks,
                                               self.default_stage_blocks)
        self.groups = check_groups(groups, self.stage_channels)
        norm_cfg = _norm_cfg(norm_cfg, 1e-5)
        self._build_stem(self.stem_widths, conv_cfg, norm_cfg)
        self.layers = nn.ModuleList()
        in_ch = self.stem_widths[-1]
        for i, (num, out) in enumerate(
                zip(self.stage_blocks, self.stage_channels)):
            units = []
            for j in range(num):
                units.append(ExLargeUnit(
                    in_ch if j == 0 else out // 2, out,
                    2 if i > 0 and j == 0 else 1, self.groups,
                    has_proj=j == 0, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                    with_cp=with_cp))
            units.append(conv_norm_act(out, out, conv_cfg=conv_cfg,
                                       norm_cfg=norm_cfg, act_cfg=RELU))
            in_ch = out
            self.layers.append(nn.Sequential(*units))
        specs = [(c, 2**(i + 2)) for i, c in enumerate(self.stage_channels)]
        self._register_layers([f'layers.{i}' for i in range(4)], specs)
