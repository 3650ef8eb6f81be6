"""Convert the paper authors' (MEGVII's ShuffleNet-Series) ImageNet weights.

MEGVII publishes 15 classifiers: ShuffleNetV1 with 3 or 8 groups at 0.5x,
1x, 1.5x and 2x, their own ShuffleNetV2 at 0.5x to 2x, and ShuffleNetV2+
Small, Medium and Large. Their files are ``torch.save({'state_dict': sd})``
of a model wrapped in ``nn.DataParallel`` (keys with or without
``module.``). :func:`convert` is a pure function: it recognises the network
from the keys and shapes, renames every entry to the keys of the mmshuffle
classifier that computes the same function (:func:`model_cfg`: the
backbone with ``megvii=True``, or ``ShuffleNetV2Plus`` with its neck and
head), leaves the tensors untouched, and checks the result against that
classifier. A file it cannot place is refused with a ``ValueError`` naming
the first key or shape that does not fit.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, Mapping, Optional, Tuple

import torch

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
    else:
        backbone = dict(type='mmshuffle.ShuffleNetV2Plus', **kwargs)
        neck = dict(type='mmshuffle.GlobalAveragePoolingSE', in_channels=1280)
        head.update(
            in_channels=1280,
            mid_channels=1280,
            act_cfg=dict(type='HSwish'),
            dropout_rate=0.2)
    return dict(
        type='ImageClassifier', backbone=backbone, neck=neck, head=head)


def build_model(arch: str, num_classes: int = 1000):
    """The classifier of :func:`model_cfg`, built."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    import mmshuffle.models  # noqa: F401  (registers the modules)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
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
    if any(k.startswith(('features.0.branch_main.', 'LastSE.', 'fc.0.'))
           for k in keys):
        # ShuffleNetV2+ has a 16-channel stem and SE layers, V2 neither
        stem = state_dict.get('first_conv.0.weight')
        if 'LastSE.SE_opr.1.weight' in state_dict or any(
                '.SE_opr.' in k for k in keys) or (
                    stem is not None and stem.shape[0] == 16):
            return 'v2plus'
        return 'v2'
    raise ValueError('not a MEGVII ShuffleNet V1, V2 or V2+ state dict: its '
                     f'first key is {keys[0]!r}')


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


# ----------------------------------------------------------- key rules


def _stage_unit(index: int, blocks: Tuple[int, ...]) -> Tuple[int, int]:
    for stage, num in enumerate(blocks):
        if index < num:
            return stage, index
        index -= num
    raise KeyError(index)


def _v1_rule(key: str, state_dict: Mapping) -> str:
    m = re.fullmatch(r'features\.(\d+)\.(branch_main_[12])\.(\d+)\.(.+)',
                     key)
    if m:
        stage, unit = _stage_unit(int(m.group(1)), (4, 8, 4))
        module = {('branch_main_1', '0'): 'g_conv_1x1_compress.conv',
                  ('branch_main_1', '1'): 'g_conv_1x1_compress.bn',
                  ('branch_main_1', '3'): 'depthwise_conv3x3_bn.conv',
                  ('branch_main_1', '4'): 'depthwise_conv3x3_bn.bn',
                  ('branch_main_2', '0'): 'g_conv_1x1_expand.conv',
                  ('branch_main_2', '1'): 'g_conv_1x1_expand.bn'}[
                      (m.group(2), m.group(3))]
        return f'backbone.layers.{stage}.{unit}.{module}.{m.group(4)}'
    return _common_rule(key, conv_last=None)


def _v2_rule(key: str, state_dict: Mapping) -> str:
    m = re.fullmatch(r'features\.(\d+)\.(branch_main|branch_proj)\.(\d+)\.'
                     r'(.+)', key)
    if m:
        stage, unit = _stage_unit(int(m.group(1)), (4, 8, 4))
        branch = 'branch2' if m.group(2) == 'branch_main' else 'branch1'
        layout = {'branch2': {0: '0.conv', 1: '0.bn', 3: '1.conv',
                              4: '1.bn', 5: '2.conv', 6: '2.bn'},
                  'branch1': {0: '0.conv', 1: '0.bn', 2: '1.conv',
                              3: '1.bn'}}[branch]
        module = layout[int(m.group(3))]
        return (f'backbone.layers.{stage}.{unit}.{branch}.{module}.'
                f'{m.group(4)}')
    return _common_rule(key, conv_last='backbone.layers.3')


# ShuffleNetV2+ branch_main layouts: index in MEGVII's nn.Sequential ->
# mmshuffle ConvModule; the SE comes after the last activation
_PLUS_SHUFFLE = {0: '0.conv', 1: '0.bn', 3: '1.conv', 4: '1.bn', 5: '2.conv',
                 6: '2.bn'}
_PLUS_XCEPTION = {0: '0.conv', 1: '0.bn', 2: '1.conv', 3: '1.bn', 5: '2.conv',
                  6: '2.bn', 7: '3.conv', 8: '3.bn', 10: '4.conv', 11: '4.bn',
                  12: '5.conv', 13: '5.bn'}
_SE = {'1': 'conv1.conv', '2': 'conv1.bn', '4': 'conv2'}


def _v2_plus_rule(key: str, state_dict: Mapping) -> str:
    m = re.fullmatch(r'features\.(\d+)\.(branch_main|branch_proj)\.(\d+)\.'
                     r'(.+)', key)
    if m:
        index = int(m.group(1))
        stage, unit = _stage_unit(index, (4, 4, 8, 4))
        prefix = f'backbone.layers.{stage}.{unit}'
        position, rest = int(m.group(3)), m.group(4)
        if m.group(2) == 'branch_proj':
            module = {0: '0.conv', 1: '0.bn', 2: '1.conv', 3: '1.bn'}[
                position]
            return f'{prefix}.branch_proj.{module}.{rest}'
        # an Xception unit starts with a depthwise conv
        first = state_dict.get(f'features.{index}.branch_main.0.weight')
        xception = first is not None and first.dim() == 4 and \
            first.shape[1] == 1
        layout, se_at = (_PLUS_XCEPTION, 15) if xception else \
            (_PLUS_SHUFFLE, 8)
        if position == se_at:
            se = re.fullmatch(r'SE_opr\.(\d)\.(.+)', rest)
            return f'{prefix}.se.{_SE[se.group(1)]}.{se.group(2)}'
        return f'{prefix}.branch_main.{layout[position]}.{rest}'
    m = re.fullmatch(r'LastSE\.SE_opr\.(\d)\.(.+)', key)
    if m:
        return f'neck.se.{_SE[m.group(1)]}.{m.group(2)}'
    if key.startswith('fc.0.'):
        return 'head.mid_fc.' + key[len('fc.0.'):]
    return _common_rule(key, conv_last='backbone.layers.4')


def _common_rule(key: str, conv_last: Optional[str]) -> str:
    rules = [('first_conv.0.', 'backbone.conv1.conv.'),
             ('first_conv.1.', 'backbone.conv1.bn.'),
             ('classifier.0.', 'head.fc.')]
    if conv_last:
        rules += [('conv_last.0.', f'{conv_last}.conv.'),
                  ('conv_last.1.', f'{conv_last}.bn.')]
    for src, dst in rules:
        if key.startswith(src):
            return dst + key[len(src):]
    raise KeyError(key)


_RULES: Dict[str, Callable[[str, Mapping], str]] = {
    'v1': _v1_rule,
    'v2': _v2_rule,
    'v2plus': _v2_plus_rule,
}


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
    rule = _RULES[family]
    # the classes of the file (1000 for the published ones)
    classifier = state_dict.get('classifier.0.weight')
    num_classes = int(classifier.shape[0]) if classifier is not None and \
        classifier.dim() == 2 and classifier.shape[0] > 0 else 1000
    expected = {
        k: tuple(v.shape)
        for k, v in build_model(arch, num_classes).state_dict().items()
    }
    out = OrderedDict()
    for key, value in state_dict.items():
        try:
            new_key = rule(key, state_dict)
        except (KeyError, AttributeError, ValueError):
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
