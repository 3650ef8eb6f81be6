"""The one registry of mmshuffle.

``MODELS`` has scope ``mmshuffle`` and is a child of mmengine's root
``MODELS``, so any OpenMMLab config (mmpretrain, mmdet, ...) reaches our
classes with a scope-qualified type such as ``type='mmshuffle.ShuffleNetV2'``
whatever its ``default_scope`` is. A bare ``type='ShuffleNetV2'`` under
``default_scope='mmpretrain'`` would build mmpretrain's class instead.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='mmshuffle',
    locations=['mmshuffle.models'])

__all__ = ['MODELS']
