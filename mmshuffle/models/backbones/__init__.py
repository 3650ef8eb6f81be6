from .mobilenet_v2 import MobileNetV2
from .shufflenet_searched import ShuffleNetV2DetNAS, ShuffleNetV2OneShot
from .shufflenet_v1 import ShuffleNetV1, shufflenet_v1_channels
from .shufflenet_v2 import ShuffleNetV2
from .shufflenet_v2_large import ShuffleNetV2ExLarge, ShuffleNetV2Large
from .shufflenet_v2_plus import ShuffleNetV2Plus

__all__ = [
    'MobileNetV2', 'ShuffleNetV1', 'ShuffleNetV2', 'ShuffleNetV2DetNAS',
    'ShuffleNetV2ExLarge', 'ShuffleNetV2Large', 'ShuffleNetV2OneShot',
    'ShuffleNetV2Plus', 'shufflenet_v1_channels'
]
