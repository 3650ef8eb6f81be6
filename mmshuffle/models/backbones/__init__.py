from .mobilenet_v2 import MobileNetV2
from .shufflenet_v1 import ShuffleNetV1, shufflenet_v1_channels
from .shufflenet_v2 import ShuffleNetV2

__all__ = [
    'MobileNetV2', 'ShuffleNetV1', 'ShuffleNetV2', 'shufflenet_v1_channels'
]
