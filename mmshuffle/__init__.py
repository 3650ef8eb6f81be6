"""mmshuffle: ShuffleNet V1/V2 and MobileNet V2 for OpenMMLab.

Importing the package registers the backbones in
:data:`mmshuffle.registry.MODELS` (scope ``mmshuffle``), reachable from any
OpenMMLab config as ``type='mmshuffle.ShuffleNetV2'`` etc., and makes
mmengine load local checkpoints with ``weights_only=True`` and a clear error
(see :mod:`mmshuffle.engine.checkpoint`).
"""
from . import deploy, engine  # noqa: F401
from .models import (MobileNetV2, ShuffleNetV1, ShuffleNetV2, channel_shuffle,
                     make_divisible)
from .registry import HOOKS, MODELS
from .version import __version__

__all__ = [
    '__version__', 'HOOKS', 'MODELS', 'MobileNetV2', 'ShuffleNetV1',
    'ShuffleNetV2', 'channel_shuffle', 'make_divisible'
]
