"""The classification head of the ShuffleNet authors' networks."""
from typing import Optional, Tuple

import torch
from mmcv.cnn import build_activation_layer
from mmpretrain.models.heads import ClsHead
from torch import nn

from mmshuffle.registry import MODELS

from ..utils import check_bool, check_positive_int


@MODELS.register_module()
class BiasFreeClsHead(ClsHead):
    """``[fc (no bias) -> act] -> dropout -> fc (no bias)``.

    MEGVII's ShuffleNet V1/V2 classifiers are one bias-free linear layer
    (the V2 2.0x model with dropout 0.2 before it); ShuffleNetV2+ has a
    bias-free ``1280 -> 1280`` layer with hard-swish first
    (``mid_channels=1280``), then dropout 0.2. Losses, top-k and
    predictions are mmpretrain's ``ClsHead``'s.

    Args:
        num_classes (int): number of classes.
        in_channels (int): channels of the input vector.
        mid_channels (int, optional): width of the hidden layer, or None for
            none. Default: None.
        act_cfg (dict): activation after the hidden layer.
            Default: ``dict(type='HSwish')``.
        dropout_rate (float): dropout before the classifier, in [0, 1).
            Default: 0.
        bias (bool): give the classifier a bias after all (DetNAS's and
            ShuffleNetV2.Large's have one). Default: False.
        init_cfg (dict): initialisation. Default: normal, std 0.01 (the
            authors').
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 mid_channels: Optional[int] = None,
                 act_cfg=dict(type='HSwish'),
                 dropout_rate: float = 0.0,
                 bias: bool = False,
                 init_cfg=dict(type='Normal', layer='Linear', std=0.01),
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        self.num_classes = check_positive_int('num_classes', num_classes)
        self.in_channels = check_positive_int('in_channels', in_channels)
        if isinstance(dropout_rate, bool) or \
                not isinstance(dropout_rate, (int, float)) or \
                not 0 <= dropout_rate < 1:
            raise ValueError('dropout_rate must be a number in [0, 1), but '
                             f'got {dropout_rate!r}')
        self.mid_channels = mid_channels
        if mid_channels is None:
            width = in_channels
        else:
            width = check_positive_int('mid_channels', mid_channels)
            self.mid_fc = nn.Linear(in_channels, width, bias=False)
            self.act = build_activation_layer(act_cfg)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 \
            else nn.Identity()
        self.fc = nn.Linear(width, num_classes,
                            bias=check_bool('bias', bias))

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The vector the classifier sees (after the hidden layer)."""
        x = feats[-1]
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects a vector of shape (N, '
                f'{self.in_channels}), but got {tuple(x.shape)}')
        if self.mid_channels is not None:
            x = self.act(self.mid_fc(x))
        return x

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return self.fc(self.dropout(self.pre_logits(feats)))
