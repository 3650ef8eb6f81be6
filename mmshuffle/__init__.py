"""mmshuffle: ShuffleNet V1/V2, ShuffleNetV2+ and MobileNet V2 for OpenMMLab.

Importing the package registers the backbones in
:data:`mmshuffle.registry.MODELS` (scope ``mmshuffle``), reachable from any
OpenMMLab config as ``type='mmshuffle.ShuffleNetV2'`` etc. It also changes
three things in mmengine for the whole process (see
``docs/get_started.md``): local checkpoints load with ``weights_only=True``
and a clear error (:mod:`mmshuffle.engine.checkpoint`), local files are
written atomically (:mod:`mmshuffle.engine.fileio`), and ``mmshuffle::``
config paths resolve (``MODULE2PACKAGE``). :func:`restore_mmengine_defaults`
undoes the first two.

An unsupported torch or mmengine fails the import with one line.
"""
import re

import mmengine
import torch

from .version import __version__

#: the versions mmshuffle works with: torch >= 2.6 (torch.export-based ONNX
#: export with ``ONNXProgram.optimize``, weights-only loading with
#: ``get_unsafe_globals_in_checkpoint``); mmengine 0.10.7 (the atomic
#: checkpoint hook reproduces its private ``_save_checkpoint_with_step``)
SUPPORTED = {
    'torch': ((2, 6), None),
    'mmengine': ((0, 10, 7), (0, 11)),
}


def _numbers(version: str) -> tuple:
    match = re.match(r'\d+(\.\d+)*', str(version))
    return tuple(int(n) for n in match.group(0).split('.')) if match else ()


def unsupported(package: str, version: str):
    """A one-line reason why ``package`` at ``version`` is not supported,
    or ``None`` when it is."""
    low, high = SUPPORTED[package]
    found = _numbers(version)
    if found and found >= low and (high is None or found < high):
        return None
    wanted = f'>= {".".join(map(str, low))}' + (
        f', < {".".join(map(str, high))}' if high else '')
    return (f'mmshuffle {__version__} needs {package} {wanted}, but '
            f'{package} {version} is installed')


for _package, _module in (('torch', torch), ('mmengine', mmengine)):
    _reason = unsupported(_package, _module.__version__)
    if _reason:
        raise ImportError(_reason)

from . import deploy, engine  # noqa: E402,F401
from .engine import restore_mmengine_defaults  # noqa: E402
from .models import (MobileNetV2, ShuffleNetV1, ShuffleNetV2,  # noqa: E402
                     ShuffleNetV2DetNAS, ShuffleNetV2ExLarge,
                     ShuffleNetV2Large, ShuffleNetV2OneShot, ShuffleNetV2Plus,
                     channel_shuffle, make_divisible)
from .registry import HOOKS, MODELS  # noqa: E402

__all__ = [
    '__version__', 'HOOKS', 'MODELS', 'MobileNetV2', 'ShuffleNetV1',
    'ShuffleNetV2', 'ShuffleNetV2DetNAS', 'ShuffleNetV2ExLarge',
    'ShuffleNetV2Large', 'ShuffleNetV2OneShot', 'ShuffleNetV2Plus',
    'channel_shuffle', 'make_divisible', 'restore_mmengine_defaults'
]
