"""Convert the paper authors' (MEGVII's ShuffleNet-Series) ImageNet weights.

MEGVII publishes 24 classifiers: ShuffleNetV1 with 3 or 8 groups at 0.5x,
1x, 1.5x and 2x, their own ShuffleNetV2 at 0.5x to 2x, ShuffleNetV2+
Small, Medium and Large, six DetNAS backbones, OneShot, and ShuffleNetV2
.Large and .ExLarge (the key rules are in :mod:`.megvii_rules`). Their
files are ``torch.save({'state_dict': sd})`` of a model wrapped in
``nn.DataParallel`` (keys with or without ``module.``). :func:`convert` is
a pure function: it recognises the network from the keys and shapes,
renames every entry to the keys of the mmshuffle classifier that computes
the same function (:func:`model_cfg`), leaves the tensors untouched, and
checks the result against that classifier. A file it cannot place is
refused with a ``ValueError`` naming the first key or shape that does not
fit.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Tuple

import torch

from .megvii_rules import RULES, detnas_choices
from .torchvision import unwrap

#: the published networks: name -> (family, arguments)
ARCHS: Dict[str, Tuple[str, dict]] = {
    **{
        f'shufflenet-v1-{w}-g{g}': ('v1', dict(groups=g, widen_factor=f))
        for g in (3, 8)
        for w, f in (('0.5x', 0.5), ('1x', 1.0), ('1.5x', 1.5), ('2x', 2.0))
    },
    **{
        f'shufflenet-v2-{w}': ('v2', dict(widen_factor=f))
        for w, f in (('0.5x', 0.5), ('1x', 1.0), ('1.5x', 1.5), ('2x', 2.0))
    },
    **{
        f'shufflenet-v2-plus-{a}': ('v2plus', dict(arch=a))
        for a in ('small', 'medium', 'large')
    },
    **{
        f'detnas-{a}': ('detnas', dict(arch=a))
        for a in ('coco-fpn-300m', 'coco-fpn-1.3g', 'coco-fpn-3.8g',
                  'coco-retinanet-300m', 'voc-fpn-300m', 'voc-retinanet-300m')
    },
    'oneshot': ('oneshot', {}),
    'shufflenet-v2-large': ('large', {}),
    'shufflenet-v2-exlarge': ('large', {}),
}

# what tells the networks apart: the last stage's width (V1, with the
# groups) or the first stage's width (V2, V2+)
_V1_WIDTHS = {(3, 480): '0.5x', (3, 960): '1x', (3, 1440): '1.5x',
              (3, 1920): '2x', (8, 768): '0.5x', (8, 1536): '1x',
              (8, 2304): '1.5x', (8, 3072): '2x'}
_V2_WIDTHS = {48: '0.5x', 116: '1x', 176: '1.5x', 244: '2x'}
_V2_PLUS_WIDTHS = {36: 'small', 48: 'medium', 68: 'large'}


def model_cfg(arch: str, num_classes: int = 1000) -> dict:
    """The mmpretrain ``ImageClassifier`` config of the mmshuffle network
    that computes what MEGVII's ``arch`` computes (its ``_megvii-in1k``
    config's model)."""
    if arch not in ARCHS:
        raise ValueError(f'arch must be one of {sorted(ARCHS)}, but got '
                         f'{arch!r}')
    family, kwargs = ARCHS[arch]
    head = dict(
        type='mmshuffle.BiasFreeClsHead',
        num_classes=num_classes,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5))
    if family == 'v1':
        from mmshuffle.models.backbones.shufflenet_v1 import \
            shufflenet_v1_channels
        width = shufflenet_v1_channels(kwargs['groups'],
                                       kwargs['widen_factor'])[1][-1]
        backbone = dict(type='mmshuffle.ShuffleNetV1', megvii=True, **kwargs)
        neck = dict(type='GlobalAveragePooling')
        head.update(in_channels=width)
    elif family == 'v2':
        width = 2048 if kwargs['widen_factor'] == 2.0 else 1024
        backbone = dict(type='mmshuffle.ShuffleNetV2', megvii=True, **kwargs)
        neck = dict(type='GlobalAveragePooling')
        head.update(in_channels=width)
        if kwargs['widen_factor'] == 2.0:
            head.update(dropout_rate=0.2)
    elif family == 'v2plus':
        backbone = dict(type='mmshuffle.ShuffleNetV2Plus', **kwargs)
        neck = dict(type='mmshuffle.GlobalAveragePoolingSE', in_channels=1280)
        head.update(
            in_channels=1280,
            mid_channels=1280,
            act_cfg=dict(type='HSwish'),
            dropout_rate=0.2)
    elif family == 'detnas':
        width = 1728 if kwargs['arch'] == 'coco-fpn-3.8g' else 1024
        backbone = dict(type='mmshuffle.ShuffleNetV2DetNAS', **kwargs)
        neck = dict(type='GlobalAveragePooling')
        head.update(in_channels=width, dropout_rate=0.2, bias=True)
    elif family == 'oneshot':
        backbone = dict(type='mmshuffle.ShuffleNetV2OneShot')
        neck = dict(type='GlobalAveragePooling')
        head.update(in_channels=1024, dropout_rate=0.1)
    else:
        return large_model_cfg(arch, num_classes)
    return dict(
        type='ImageClassifier', backbone=backbone, neck=neck, head=head)


def large_model_cfg(arch: str, num_classes: int = 1000) -> dict:
    """ShuffleNetV2.Large's or .ExLarge's classifier, with the authors'
    auxiliary classifiers on the first three stages (training only; loss
    weights 0.3/0.5/0.7 at strides 4/8/16, 1.0 for the main head)."""
    large = arch == 'shufflenet-v2-large'
    backbone = dict(
        type='mmshuffle.ShuffleNetV2Large' if large else
        'mmshuffle.ShuffleNetV2ExLarge',
        out_indices=(0, 1, 2, 4) if large else (0, 1, 2, 3))
    aux = ((256, 256), (512, 512), (1024, 1024)) if large else \
        ((320, 256), (640, 512), (1280, 1024))
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        head=dict(
            type='mmshuffle.DeeplySupervisedClsHead',
            num_classes=num_classes,
            in_channels=1280 if large else 2560,
            aux_channels=aux,
            aux_loss_weights=(0.3, 0.5, 0.7),
            dropout_rate=0.2,
            norm_cfg=dict(type='BN', eps=1e-9 if large else 1e-5),
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
            topk=(1, 5)))


def build_model(arch: str, num_classes: int = 1000, device=None):
    """The classifier of :func:`model_cfg`, built (on ``device``: 'meta'
    builds its shapes without memory)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    import mmshuffle.models  # noqa: F401  (registers the modules)
    with DefaultScope.overwrite_default_scope('mmpretrain'), \
            torch.device(device or 'cpu'):
        return MODELS.build(model_cfg(arch, num_classes))


# --------------------------------------------------------------- reading


def strip_module(state_dict: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    """The state dict inside a MEGVII file, without ``module.`` prefixes."""
    state_dict = unwrap(state_dict)
    if not isinstance(state_dict, Mapping):
        raise ValueError('expected a state dict (a mapping of names to '
                         f'tensors), but got {type(state_dict).__name__}')
    out = OrderedDict()
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise ValueError(f'state dict key {key!r} is not a string')
        if not isinstance(value, torch.Tensor):
            raise ValueError(f'entry {key!r} is a {type(value).__name__}, '
                             'not a tensor')
        out[key[len('module.'):] if key.startswith('module.') else key] = \
            value
    if not out:
        raise ValueError('the state dict is empty')
    return out


def _shape(state_dict: Mapping, key: str) -> Tuple[int, ...]:
    if key not in state_dict:
        raise ValueError(f'key {key!r} is missing; the file is not a '
                         'complete MEGVII ShuffleNet state dict')
    return tuple(state_dict[key].shape)


def _family(state_dict: Mapping) -> str:
    keys = list(state_dict)
    if any(k.startswith('backbone.') for k in keys):
        raise ValueError('the file is already in mmshuffle\'s layout (keys '
                         f'{keys[0]!r}, ...): nothing to convert')
    if any('.branch_main_1.' in k for k in keys):
        return 'v1'
    if any(k.startswith(('first_conv.conv.', 'last_conv.')) or
           '.conv.0.interstellar' in k for k in keys):
        return 'detnas'
    if any(k.startswith(('predict_56.', 'predict_14.')) or
           k.startswith('first_conv.2.') for k in keys):
        return 'large'
    if any(k.startswith(('features.0.branch_main.', 'LastSE.', 'fc.0.'))
           for k in keys):
        # ShuffleNetV2+ has SE layers and a 16-channel stem, OneShot only
        # the stem, V2 neither
        stem = state_dict.get('first_conv.0.weight')
        if 'LastSE.SE_opr.1.weight' in state_dict or any(
                '.SE_opr.' in k for k in keys):
            return 'v2plus'
        if stem is not None and stem.shape[0] == 16:
            return 'oneshot'
        return 'v2'
    raise ValueError('not a MEGVII ShuffleNet V1, V2, V2+, DetNAS, OneShot '
                     'or V2.Large/ExLarge state dict: its first key is '
                     f'{keys[0]!r}')


def detect_arch(state_dict: Mapping) -> str:
    """The name (a key of :data:`ARCHS`) of the MEGVII network whose
    weights ``state_dict`` holds, from its keys and shapes."""
    state_dict = strip_module(state_dict)
    family = _family(state_dict)
    if family == 'v1':
        mid = _shape(state_dict, 'features.0.branch_main_1.0.weight')[0]
        key = 'features.0.branch_main_2.0.weight'
        per_group = _shape(state_dict, key)[1]
        groups = mid // per_group if per_group else 0
        last = _shape(state_dict, 'classifier.0.weight')[1]
        width = _V1_WIDTHS.get((groups, last))
        if width is None:
            raise ValueError(
                f'no published ShuffleNetV1 has {groups} groups and a last '
                f'stage of {last} channels ({key!r} has shape '
                f'{_shape(state_dict, key)}, \'classifier.0.weight\' '
                f'{_shape(state_dict, "classifier.0.weight")})')
        return f'shufflenet-v1-{width}-g{groups}'
    if family == 'oneshot':
        return 'oneshot'
    if family == 'large':
        exlarge = any(k.startswith('features.0.0.') for k in state_dict)
        return 'shufflenet-v2-exlarge' if exlarge else 'shufflenet-v2-large'
    if family == 'detnas':
        return _detnas_arch(state_dict)
    proj = 'features.0.branch_proj.2.weight'
    main = 'features.0.branch_main.5.weight'
    if family == 'v2plus' and \
            _shape(state_dict, 'features.0.branch_main.0.weight')[1] == 1:
        main = 'features.0.branch_main.12.weight'  # an Xception unit
    width = _shape(state_dict, proj)[0] + _shape(state_dict, main)[0]
    table = _V2_PLUS_WIDTHS if family == 'v2plus' else _V2_WIDTHS
    if width not in table:
        name = 'ShuffleNetV2+' if family == 'v2plus' else 'ShuffleNetV2'
        raise ValueError(
            f'no published {name} has a first stage of {width} channels '
            f'({proj!r} has shape {_shape(state_dict, proj)}, {main!r} '
            f'{_shape(state_dict, main)})')
    prefix = 'shufflenet-v2-plus' if family == 'v2plus' else 'shufflenet-v2'
    return f'{prefix}-{table[width]}'


def _detnas_arch(state_dict: Mapping) -> str:
    from mmshuffle.models.backbones.shufflenet_searched import \
        ShuffleNetV2DetNAS
    key = 'first_conv.conv.weight'
    stem = _shape(state_dict, key)[0]
    choices = detnas_choices(state_dict)
    for name, (width, _, _, _, published) in \
            ShuffleNetV2DetNAS.arch_settings.items():
        if width == stem and published == choices:
            return f'detnas-{name}'
    raise ValueError(
        f'no published DetNAS network has a stem of {stem} channels ({key!r} '
        f'has shape {_shape(state_dict, key)}) and the units {choices} '
        '(0/1/2: ShuffleNet 3x3/5x5/7x7, 3: Xception)')


# ---------------------------------------------------------------- public


def convert(checkpoint: Mapping,
            arch: Optional[str] = None) -> 'OrderedDict[str, torch.Tensor]':
    """MEGVII ShuffleNet-Series weights -> mmshuffle ``ImageClassifier``
    state dict (a new dict; the tensors are the input's).

    Args:
        checkpoint (Mapping): the loaded file: ``{'state_dict': sd}`` or a
            bare state dict, keys with or without ``module.``.
        arch (str, optional): the network (a key of :data:`ARCHS`); by
            default recognised from the shapes (:func:`detect_arch`).

    Raises:
        ValueError: the weights do not fit the network; the message names
            the first key or shape that does not.
    """
    state_dict = strip_module(checkpoint)
    if arch is None:
        arch = detect_arch(state_dict)
    elif arch not in ARCHS:
        raise ValueError(f'arch must be one of {sorted(ARCHS)}, but got '
                         f'{arch!r}')
    family = ARCHS[arch][0]
    rule = RULES[family]
    # the classes of the file (1000 for the published ones)
    classifier = next((state_dict[k] for k in (
        'classifier.0.weight', 'fc.fc.weight', 'fc.weight')
                       if k in state_dict), None)
    num_classes = int(classifier.shape[0]) if classifier is not None and \
        classifier.dim() == 2 and classifier.shape[0] > 0 else 1000
    expected = {
        k: tuple(v.shape)
        for k, v in build_model(arch, num_classes,
                                device='meta').state_dict().items()
    }
    out = OrderedDict()
    for key, value in state_dict.items():
        try:
            new_key = rule(key, state_dict, arch)
            if new_key is None:
                continue  # another name of an entry kept under its own
        except ValueError as error:  # a rule's own reason
            raise ValueError(f'{error}; wrong network?') from None
        except (KeyError, AttributeError, IndexError):
            new_key = None
        if new_key is None or new_key not in expected:
            raise ValueError(f'key {key!r} does not fit a MEGVII {arch} '
                             'network; wrong network?')
        if tuple(value.shape) != expected[new_key]:
            raise ValueError(
                f'{key!r} has shape {tuple(value.shape)} but {arch} expects '
                f'{expected[new_key]} (for {new_key!r}); wrong network?')
        if new_key in out:
            raise ValueError(f'key {key!r} repeats {new_key!r}')
        out[new_key] = value
    missing = [k for k in expected if k not in out]
    if missing:
        raise ValueError(f'the file lacks {len(missing)} entries of {arch}, '
                         f'the first one for {missing[0]!r}; truncated or '
                         'wrong network?')
    return out
