"""Global average pooling followed by squeeze-excitation (ShuffleNetV2+)."""
from typing import Tuple

import torch
from mmengine.model import BaseModule

from mmshuffle.registry import MODELS

from ..backbones.shufflenet_v2_plus import SELayer
from ..utils import check_positive_int, shufflenet_init


@MODELS.register_module()
class GlobalAveragePoolingSE(BaseModule):
    """Global average pooling, then a squeeze-excitation on the pooled
    vector: ShuffleNetV2+'s classifier neck (its ``LastSE``).

    The SE is :class:`mmshuffle.models.backbones.shufflenet_v2_plus.SELayer`
    (1x1 conv -> BN -> ReLU -> 1x1 conv -> hard-sigmoid gate, bias-free,
    ``in_channels // reduction`` bottleneck) applied to the ``(N, C, 1, 1)``
    pooled map. Takes the backbone's last output and returns a 1-tuple of
    the ``(N, C)`` vector, like mmpretrain's ``GlobalAveragePooling``.

    Args:
        in_channels (int): channels of the backbone's last output.
        reduction (int): SE bottleneck ratio. Default: 4.
        norm_cfg (dict): normalisation of the SE bottleneck.
            Default: ``dict(type='BN')``.
        init_cfg (dict, optional): initialisation config; when None the
            authors' (normal, std ``1 / fan_in``; BN weight 1, bias 1e-4).
    """

    def __init__(self,
                 in_channels: int,
                 reduction: int = 4,
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg)
        self.in_channels = check_positive_int('in_channels', in_channels)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.se = SELayer(in_channels, reduction, norm_cfg=norm_cfg)

    def init_weights(self) -> None:
        first_time = not self._is_init
        super().init_weights()
        if self.init_cfg is None and first_time:
            shufflenet_init(self)

    def forward(self, inputs) -> Tuple[torch.Tensor]:
        x = inputs[-1] if isinstance(inputs, (tuple, list)) else inputs
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or \
                x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else x
            raise ValueError(
                f'{type(self).__name__} expects a feature map of shape (N, '
                f'{self.in_channels}, H, W), but got {shape}')
        x = self.se(self.pool(x))
        return (x.flatten(1), )
