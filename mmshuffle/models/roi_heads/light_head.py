"""Light-Head R-CNN (Li et al., "Light-Head R-CNN: In Defense of Two-Stage
Object Detector", 2017), the detector of the ShuffleNet V2 paper's COCO
experiments, in mmdet's two-stage framework.

The head is thin: a *large separable convolution* turns one backbone
feature map into a thin map of ``10 x p x p`` channels (``p = 7``), each
RoI is pooled from it by position-sensitive RoIAlign into ``10 x p x p``
values, and one fully connected layer (2048 wide) feeds the classifier and
the box regressor (mmdet's ``ConvFCBBoxHead`` with ``num_shared_fcs=1``).

- :class:`LargeSeparableConv`: ``k x 1`` then ``1 x k`` and ``1 x k`` then
  ``k x 1`` (``mid_channels`` in between), summed, then ReLU; biased convs
  without normalisation, as in the authors' code (``k = 15``; 64 middle
  channels for the small setting, 256 for the large).
- :class:`PSRoIAlignExtractor`: the RoI extractor that owns the large
  separable conv and runs position-sensitive RoIAlign (torchvision's
  ``ps_roi_align``, average of ``sampling_ratio`` x ``sampling_ratio``
  bilinear samples per bin, half-pixel coordinates) on its output.
- :class:`LightHeadRoIHead`: mmdet's ``StandardRoIHead`` that checks, when
  it is built, that extractor and box head agree on ``p`` and on the
  channels per bin.
- :class:`SingleLevelRPNHead`: mmdet's ``RPNHead`` on one of the backbone's
  outputs (the RPN at stride 16 while the light head reads stride 32).
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.models.dense_heads import RPNHead
from mmdet.models.roi_heads import StandardRoIHead
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmshuffle.registry import MODELS

from ..utils import check_positive_int


class LargeSeparableConv(nn.Module):
    """``relu(conv_1xk(conv_kx1(x)) + conv_kx1(conv_1xk(x)))``.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels (the thin map's).
        mid_channels (int): channels between the two convs of a branch.
        kernel_size (int): ``k``, odd.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 mid_channels: int, kernel_size: int):
        super().__init__()
        k, pad = kernel_size, kernel_size // 2
        self.col_row = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, (k, 1), padding=(pad, 0)),
            nn.Conv2d(mid_channels, out_channels, (1, k), padding=(0, pad)))
        self.row_col = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, (1, k), padding=(0, pad)),
            nn.Conv2d(mid_channels, out_channels, (k, 1), padding=(pad, 0)))
        for conv in self.modules():
            if isinstance(conv, nn.Conv2d):  # the authors' initialisation
                nn.init.normal_(conv.weight, std=0.01)
                nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.col_row(x) + self.row_col(x))


@MODELS.register_module()
class PSRoIAlignExtractor(BaseModule):
    """The light head's RoI extractor: the thin map and position-sensitive
    RoIAlign on it (see the module docstring).

    Args:
        in_channels (int): channels of the feature map it reads.
        featmap_strides (Sequence[int]): strides of the feature maps the
            RoI head hands over (the backbone's outputs, in order).
        in_index (int): which of them the thin map is computed from.
            Default: -1, the last.
        output_size (int): ``p``, bins per side. Default: 7.
        thin_channels (int): channels of the thin map, a multiple of
            ``p * p``. Default: 490 (10 x 7 x 7).
        mid_channels (int): the large separable conv's middle width.
            Default: 64 (the small setting; 256 for the large one).
        kernel_size (int): its ``k``. Default: 15.
        sampling_ratio (int): bilinear samples per bin side, >= 1.
            Default: 2.
    """

    def __init__(self,
                 in_channels: int,
                 featmap_strides: Sequence[int],
                 in_index: int = -1,
                 output_size: int = 7,
                 thin_channels: int = 490,
                 mid_channels: int = 64,
                 kernel_size: int = 15,
                 sampling_ratio: int = 2,
                 init_cfg=None):
        super().__init__(init_cfg)
        self.output_size = check_positive_int('output_size', output_size)
        thin = check_positive_int('thin_channels', thin_channels)
        bins = self.output_size**2
        if thin % bins:
            raise ValueError(
                f'thin_channels ({thin}) must be a multiple of output_size * '
                f'output_size ({self.output_size} * {self.output_size} = '
                f'{bins}): position-sensitive RoIAlign reads one channel '
                'group per bin')
        kernel_size = check_positive_int('kernel_size', kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be odd, but got {kernel_size}')
        if not isinstance(featmap_strides, (list, tuple)) or \
                not featmap_strides:
            raise ValueError('featmap_strides must be a non-empty list of '
                             f'strides, but got {featmap_strides!r}')
        self.featmap_strides = [
            check_positive_int('featmap_strides', s) for s in featmap_strides
        ]
        if isinstance(in_index, bool) or not isinstance(in_index, int) or \
                not -len(featmap_strides) <= in_index < len(featmap_strides):
            raise ValueError(
                f'in_index must index featmap_strides {featmap_strides!r}, '
                f'but got {in_index!r}')
        self.in_index = in_index % len(self.featmap_strides)
        self.thin_channels = thin
        #: the channels of each pooled bin (the box head's in_channels)
        self.out_channels = thin // bins
        if isinstance(sampling_ratio, bool) or \
                not isinstance(sampling_ratio, int) or sampling_ratio < 1:
            # (0, adaptive elsewhere, is refused: torchvision's
            # ps_roi_align gives NaN for an empty RoI then, 0 / 0 samples)
            raise ValueError('sampling_ratio must be an int >= 1 (samples '
                             'per bin side; adaptive sampling is not '
                             f'offered), but got {sampling_ratio!r}')
        self.sampling_ratio = sampling_ratio
        self.conv = LargeSeparableConv(
            check_positive_int('in_channels', in_channels), thin,
            check_positive_int('mid_channels', mid_channels), kernel_size)

    @property
    def num_inputs(self) -> int:
        """The number of feature maps it is handed (mmdet's interface)."""
        return len(self.featmap_strides)

    @property
    def spatial_scale(self) -> float:
        return 1.0 / self.featmap_strides[self.in_index]

    def thin_map(self, feats: Sequence[Tensor]) -> Tensor:
        """The thin map of the feature map at ``in_index``."""
        return self.conv(feats[self.in_index])

    def forward(self, feats: Tuple[Tensor], rois: Tensor,
                roi_scale_factor: Optional[float] = None) -> Tensor:
        """RoI features ``(R, thin_channels / p^2, p, p)`` for ``rois``
        ``(R, 5)`` (batch index, x1, y1, x2, y2 in input pixels)."""
        from torchvision.ops import ps_roi_align
        if roi_scale_factor is not None:
            raise ValueError('PSRoIAlignExtractor does not rescale RoIs '
                             '(roi_scale_factor must be None)')
        thin = self.thin_map(feats)
        return ps_roi_align(thin, rois.to(thin.dtype), self.output_size,
                            self.spatial_scale, self.sampling_ratio)


@MODELS.register_module()
class LightHeadRoIHead(StandardRoIHead):
    """mmdet's ``StandardRoIHead`` with a :class:`PSRoIAlignExtractor`,
    checked at build time: the extractor's ``p`` must be the box head's
    ``roi_feat_size`` and its channels per bin the box head's
    ``in_channels``."""

    def init_bbox_head(self, bbox_roi_extractor, bbox_head) -> None:
        super().init_bbox_head(bbox_roi_extractor, bbox_head)
        extractor, head = self.bbox_roi_extractor, self.bbox_head
        if not isinstance(extractor, PSRoIAlignExtractor):
            raise TypeError('LightHeadRoIHead needs a '
                            'mmshuffle.PSRoIAlignExtractor, but got '
                            f'{type(extractor).__name__}')
        size = getattr(head, 'roi_feat_size', None)
        size = size[0] if isinstance(size, (tuple, list)) else size
        if size != extractor.output_size:
            raise ValueError(
                f'the RoI extractor pools {extractor.output_size} x '
                f'{extractor.output_size} bins but the box head expects '
                f'roi_feat_size={size}: set both to the same p')
        if getattr(head, 'in_channels', None) != extractor.out_channels:
            raise ValueError(
                f'the RoI extractor gives {extractor.out_channels} channels '
                f'per bin (thin_channels {extractor.thin_channels} / '
                f'{extractor.output_size}^2) but the box head expects '
                f'in_channels={head.in_channels}')


@MODELS.register_module()
class SingleLevelRPNHead(RPNHead):
    """mmdet's ``RPNHead`` on one of the feature maps it is handed.

    Args:
        in_index (int): the feature map (an index into the backbone's or
            neck's outputs). Default: 0.
    """

    def __init__(self, *args, in_index: int = 0, **kwargs):
        if isinstance(in_index, bool) or not isinstance(in_index, int):
            raise TypeError(f'in_index must be an int, but got {in_index!r}')
        self.in_index = in_index
        super().__init__(*args, **kwargs)
        if self.prior_generator.num_levels != 1:
            raise ValueError(
                'SingleLevelRPNHead runs on one feature map, but its anchor '
                f'generator has {self.prior_generator.num_levels} strides')

    def forward(self, x: Tuple[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        if not -len(x) <= self.in_index < len(x):
            raise ValueError(f'in_index {self.in_index} is out of range for '
                             f'{len(x)} feature maps')
        return super().forward((x[self.in_index], ))
