from .backbones import (MobileNetV2, ShuffleNetV1, ShuffleNetV2,
                        ShuffleNetV2Plus, shufflenet_v1_channels)
from .dense_heads import LiteRetinaHead
from .heads import BiasFreeClsHead
from .necks import GlobalAveragePoolingSE, LiteFPN
from .utils import channel_shuffle, make_divisible

__all__ = [
    'BiasFreeClsHead', 'GlobalAveragePoolingSE', 'LiteFPN', 'LiteRetinaHead',
    'MobileNetV2', 'ShuffleNetV1', 'ShuffleNetV2', 'ShuffleNetV2Plus',
    'channel_shuffle', 'make_divisible', 'shufflenet_v1_channels'
]
