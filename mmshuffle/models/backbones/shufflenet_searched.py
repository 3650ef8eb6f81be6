"""The paper authors' other searched ShuffleNet networks (MEGVII's
ShuffleNet-Series, MIT licence): DetNAS and OneShot.

Both are :class:`~.shufflenet_v2_plus.SearchedShuffleNet` networks, the
layout of ShuffleNetV2+ (a 3x3/2 stem, four stages of searched units, a
1x1 ``conv_last``) with ReLU everywhere and no squeeze-excitation:

- **DetNAS** (Chen et al., "DetNAS: Backbone Search for Object Detection",
  NeurIPS 2019) searched each unit's kind for a COCO or VOC detector
  (Faster R-CNN with FPN, or RetinaNet) and published six backbones: four
  of 300M FLOPs (20 units, stage widths 64/160/320/640, conv_last 1024), a
  1.3G (40 units, 96/240/480/960, 1024) and a 3.8G (40 units,
  172/432/864/1728, 1728) one. Its stem and conv_last convolutions carry a
  bias (before their BatchNorm).
- **OneShot** (Guo et al., "Single Path One-Shot Neural Architecture Search
  with Uniform Sampling", ECCV 2020) searched the kinds and each unit's
  width: the main branch of unit ``i`` is ``int(out // 2 * scale_i)``
  wide.

With the classifiers of their ``_megvii-in1k`` configs they compute what
MEGVII's ``ShuffleNetV2DetNAS`` and ``ShuffleNetV2_OneShot`` compute, and
``tools/model_converters/megvii2mmshuffle.py`` converts their weights.
"""
from typing import Optional, Sequence

from mmshuffle.registry import MODELS

from ..utils import check_positive_number
from .shufflenet_v2_plus import SearchedShuffleNet

RELU = dict(type='ReLU')


@MODELS.register_module()
class ShuffleNetV2DetNAS(SearchedShuffleNet):
    """DetNAS backbone (see the module docstring).

    Outputs (``out_indices``): 0, 1, 2, 3 = the four stages at strides 4,
    8, 16, 32; 4 = conv_last (1024 or 1728 channels, stride 32); a
    detector takes ``(0, 1, 2, 3)``. With ``init_cfg=None`` the authors'
    initialisation (:func:`~mmshuffle.models.utils.shufflenet_init`) is
    used. The arguments every backbone takes are described in
    :class:`~mmshuffle.models.backbones.base.MobileBackbone`.

    Args:
        arch (str): the searched network: 'coco-fpn-300m', 'coco-fpn-1.3g',
            'coco-fpn-3.8g', 'coco-retinanet-300m', 'voc-fpn-300m' or
            'voc-retinanet-300m' (MEGVII's ``COCO_FPN_300M`` etc.).
            Default: 'coco-fpn-300m'.
        stage_blocks (Sequence[int], optional): units per stage, with the
            first ``sum(stage_blocks)`` of the arch's choices; for small
            test networks. Default: None, the arch's (4/4/8/4 or 8/8/16/8).
        out_indices (Sequence[int]): which outputs to return. Default: (4, ).
    """

    #: stem width, four stage widths, conv_last width, units per stage,
    #: each unit's kind (0/1/2: ShuffleNet unit 3x3/5x5/7x7, 3: Xception)
    arch_settings = {
        'coco-fpn-300m': (16, (64, 160, 320, 640), 1024, (4, 4, 8, 4),
                          (2, 1, 2, 0, 2, 1, 1, 2, 3, 3, 1, 3, 0, 0, 3, 1, 3,
                           1, 3, 2)),
        'coco-retinanet-300m': (16, (64, 160, 320, 640), 1024, (4, 4, 8, 4),
                                (2, 3, 1, 1, 3, 2, 1, 3, 3, 1, 1, 1, 3, 3, 2,
                                 0, 3, 3, 3, 3)),
        'voc-fpn-300m': (16, (64, 160, 320, 640), 1024, (4, 4, 8, 4),
                         (2, 1, 0, 3, 1, 3, 0, 3, 2, 0, 1, 1, 3, 3, 3, 3, 3,
                          3, 3, 1)),
        'voc-retinanet-300m': (16, (64, 160, 320, 640), 1024, (4, 4, 8, 4),
                               (1, 3, 0, 0, 2, 3, 3, 3, 2, 3, 3, 3, 3, 2, 2,
                                0, 2, 3, 1, 1)),
        'coco-fpn-1.3g': (48, (96, 240, 480, 960), 1024, (8, 8, 16, 8),
                          (0, 0, 3, 1, 2, 1, 0, 2, 0, 3, 1, 2, 3, 3, 2, 0, 2,
                           1, 1, 3, 2, 0, 2, 2, 2, 1, 3, 1, 0, 3, 3, 3, 1, 3,
                           3, 3, 3, 3, 3, 3)),
        'coco-fpn-3.8g': (72, (172, 432, 864, 1728), 1728, (8, 8, 16, 8),
                          (0, 0, 3, 1, 2, 1, 0, 2, 0, 3, 1, 2, 3, 3, 2, 0, 2,
                           1, 1, 3, 2, 0, 2, 2, 2, 1, 3, 1, 0, 3, 3, 3, 1, 3,
                           3, 3, 3, 3, 3, 3)),
    }

    def __init__(self,
                 arch: str = 'coco-fpn-300m',
                 stage_blocks: Optional[Sequence[int]] = None,
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
        self.arch = arch
        stem, stages, last, blocks, choices = self.arch_settings[arch]
        blocks = check_stage_blocks(stage_blocks, blocks)
        self._build(
            stem, stages, last, blocks, choices[:sum(blocks)],
            stage_acts=(RELU, ) * 4, stem_act=RELU, last_act=RELU,
            conv_bias=True, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
            with_cp=with_cp)


def check_stage_blocks(stage_blocks, default: Sequence[int]):
    """``stage_blocks`` (four positive ints, at most ``default``'s), or
    ``default`` for None."""
    if stage_blocks is None:
        return tuple(default)
    if not isinstance(stage_blocks, (list, tuple)) or \
            len(stage_blocks) != 4 or any(
                isinstance(n, bool) or not isinstance(n, int) or
                not 1 <= n <= d for n, d in zip(stage_blocks, default)):
        raise ValueError(f'stage_blocks must be four ints, each from 1 to '
                         f'{tuple(default)}, but got {stage_blocks!r}')
    return tuple(stage_blocks)


@MODELS.register_module()
class ShuffleNetV2OneShot(SearchedShuffleNet):
    """The network Single Path One-Shot NAS found (see the module
    docstring).

    Outputs (``out_indices``): 0, 1, 2, 3 = the four stages (64, 160, 320,
    640 channels) at strides 4, 8, 16, 32; 4 = conv_last (1024 channels,
    stride 32). With ``init_cfg=None`` the authors' initialisation
    (:func:`~mmshuffle.models.utils.shufflenet_init`) is used. The
    arguments every backbone takes are described in
    :class:`~mmshuffle.models.backbones.base.MobileBackbone`.

    Args:
        block_choices (Sequence[int], optional): the 20 units' kinds.
            Default: None, the published ones (those of ShuffleNetV2+).
        channel_scales (Sequence[float], optional): the 20 units' width
            scales, each in (0, 2]: unit ``i``'s main branch is
            ``int(out // 2 * channel_scales[i])`` wide. Default: None, the
            published ones.
        out_indices (Sequence[int]): which outputs to return. Default: (4, ).
    """

    stage_channels_default = (64, 160, 320, 640)
    stage_blocks = (4, 4, 8, 4)
    default_block_choices = (0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0,
                             2, 1, 3, 2)
    #: the published scales: [0.2, 0.4, ..., 1.6][i] for the searched i
    default_channel_scales = tuple(
        (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6)[i]
        for i in (6, 5, 3, 5, 2, 6, 3, 4, 2, 5, 7, 5, 4, 6, 7, 4, 4, 5, 4, 3))

    def __init__(self,
                 block_choices: Optional[Sequence[int]] = None,
                 channel_scales: Optional[Sequence[float]] = None,
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
        num_units = sum(self.stage_blocks)
        if block_choices is None:
            block_choices = self.default_block_choices
        if channel_scales is None:
            channel_scales = self.default_channel_scales
        if not isinstance(channel_scales, (list, tuple)) or \
                len(channel_scales) != num_units:
            raise ValueError(f'channel_scales must be a list or tuple of '
                             f'{num_units} numbers in (0, 2], but got '
                             f'{channel_scales!r}')
        self.channel_scales = tuple(
            check_positive_number('channel_scales', s) for s in
            channel_scales)
        if max(self.channel_scales) > 2:
            raise ValueError('channel_scales must be numbers in (0, 2], but '
                             f'got {channel_scales!r}')
        mids = []
        for stage, out in zip(self.stage_blocks, self.stage_channels_default):
            mids += [out // 2] * stage
        # the authors' expression, float product truncated
        mids = [max(1, int(m * s)) for m, s in zip(mids, self.channel_scales)]
        self._build(
            16, self.stage_channels_default, 1024, self.stage_blocks,
            block_choices, stage_acts=(RELU, ) * 4, stem_act=RELU,
            last_act=RELU, mid_channels=mids, conv_cfg=conv_cfg,
            norm_cfg=norm_cfg, with_cp=with_cp)
