from .mobilenet_v2 import MobileNetV2
from .shufflenet_v1 import ShuffleNetV1, shufflenet_v1_channels
from .shufflenet_v2 import ShuffleNetV2
from .shufflenet_v2_plus import ShuffleNetV2Plus

__all__ = [
    'MobileNetV2', 'ShuffleNetV1', 'ShuffleNetV2', 'ShuffleNetV2Plus',
    'shufflenet_v1_channels'
]
