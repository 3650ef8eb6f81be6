"""The registries of mmshuffle.

Each is a child of mmengine's root registry of the same kind with scope
``mmshuffle``, so any OpenMMLab config (mmpretrain, mmdet, ...) reaches our
classes with a scope-qualified type such as ``type='mmshuffle.ShuffleNetV2'``
whatever its ``default_scope`` is. A bare ``type='ShuffleNetV2'`` under
``default_scope='mmpretrain'`` would build mmpretrain's class instead.

Importing this module also adds ``mmshuffle`` to the packages whose configs
mmengine finds by ``package::path`` (``_base_ = 'mmshuffle::...'``,
``mmengine.hub.get_config('mmshuffle::...')``): mmengine 0.10 keeps a fixed
table of them (``mmengine.config.utils.MODULE2PACKAGE``).

These registries hold mmshuffle's own modules only. A config inherited
through ``mmshuffle::`` is nevertheless built in mmdet's or mmpretrain's
scope: mmengine gives every inherited dict ``_scope_='mmshuffle'`` unless
it names a scope already, and every dict of mmshuffle's configs that the
Runner builds names its own (``_scope_='mmdet'``/``'mmpretrain'``; see
docs/openmmlab.md).
"""
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

#: backbones
MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='mmshuffle',
    locations=['mmshuffle.models'])

#: runner hooks (checkpoint safety)
HOOKS = Registry(
    'hook',
    parent=MMENGINE_HOOKS,
    scope='mmshuffle',
    locations=['mmshuffle.engine'])

#: data transforms (image loading that names the file it cannot read)
TRANSFORMS = Registry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    scope='mmshuffle',
    locations=['mmshuffle.datasets'])

# module name -> pip package name; the configs are found in the installed
# package's .mim/configs folder
MODULE2PACKAGE.setdefault('mmshuffle', 'mmshuffle')

__all__ = ['MODELS', 'HOOKS', 'TRANSFORMS']
