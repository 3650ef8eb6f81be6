from .backbones import (MobileNetV2, ShuffleNetV1, ShuffleNetV2,
                        shufflenet_v1_channels)
from .dense_heads import LiteRetinaHead
from .necks import LiteFPN
from .utils import channel_shuffle, make_divisible

__all__ = [
    'LiteFPN', 'LiteRetinaHead', 'MobileNetV2', 'ShuffleNetV1',
    'ShuffleNetV2', 'channel_shuffle', 'make_divisible',
    'shufflenet_v1_channels'
]
