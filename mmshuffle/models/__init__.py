from .backbones import (MobileNetV2, ShuffleNetV1, ShuffleNetV2,
                        ShuffleNetV2DetNAS, ShuffleNetV2ExLarge,
                        ShuffleNetV2Large, ShuffleNetV2OneShot,
                        ShuffleNetV2Plus, shufflenet_v1_channels)
from .dense_heads import LiteRetinaHead
from .heads import BiasFreeClsHead, DeeplySupervisedClsHead
from .necks import GlobalAveragePoolingSE, LiteFPN
from .roi_heads import (LightHeadRoIHead, PSRoIAlignExtractor,
                        SingleLevelRPNHead)
from .utils import channel_shuffle, make_divisible

__all__ = [
    'BiasFreeClsHead', 'DeeplySupervisedClsHead', 'GlobalAveragePoolingSE',
    'LightHeadRoIHead', 'LiteFPN', 'LiteRetinaHead', 'MobileNetV2',
    'PSRoIAlignExtractor', 'SingleLevelRPNHead', 'ShuffleNetV1',
    'ShuffleNetV2', 'ShuffleNetV2DetNAS', 'ShuffleNetV2ExLarge',
    'ShuffleNetV2Large', 'ShuffleNetV2OneShot', 'ShuffleNetV2Plus',
    'channel_shuffle', 'make_divisible', 'shufflenet_v1_channels'
]
