"""The key rules of :mod:`mmshuffle.converters.megvii`: for each MEGVII
family, the mmshuffle key of each entry of the authors' state dict.

A rule ``rule(key, state_dict, arch)`` returns the new key, ``None`` for an
entry that only repeats another one (ShuffleNetV2.Large's SE layers are
registered twice in the authors' model, as ``se_fc1`` and ``se_block.0``;
their loader, like this one, keeps ``se_block``'s), or raises ``KeyError``
(or ``ValueError`` with a reason) for a key it cannot place.
"""
import re
from typing import Callable, Dict, Mapping, Optional, Tuple

def _stage_unit(index: int, blocks: Tuple[int, ...]) -> Tuple[int, int]:
    for stage, num in enumerate(blocks):
        if index < num:
            return stage, index
        index -= num
    raise KeyError(index)


def _v1_rule(key: str, state_dict: Mapping, arch: str) -> Optional[str]:
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


def _v2_rule(key: str, state_dict: Mapping, arch: str) -> Optional[str]:
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


def _v2_plus_rule(key: str, state_dict: Mapping, arch: str) -> Optional[str]:
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


# ------------------------------------------------------------- DetNAS

#: DetNAS's stage repeats by stem width (the 300M networks have 16)
DETNAS_BLOCKS = {16: (4, 4, 8, 4), 48: (8, 8, 16, 8), 72: (8, 8, 16, 8)}
_DETNAS_OP = re.compile(r'(shufflenet_[357]x[357]|xception_3x3)')


def detnas_choices(state_dict: Mapping) -> Tuple[int, ...]:
    """Each unit's kind (0/1/2: ShuffleNet unit 3x3/5x5/7x7, 3: Xception),
    read from the names of a DetNAS state dict's layers."""
    kinds = {}
    for key in state_dict:
        m = re.match(r'features\.(\d+)\.conv\.', key)
        op = _DETNAS_OP.search(key)
        if m and op:
            name = op.group(1)
            kinds[int(m.group(1))] = 3 if name.startswith('xception') else \
                (int(name[-1]) - 3) // 2
    return tuple(kinds[i] for i in sorted(kinds))


def _detnas_layer(name: str, depthwise: int, pointwise: int) -> str:
    """The mmshuffle module (``<index>.conv`` or ``<index>.bn``) of one
    named DetNAS layer: a depthwise conv is named ``..._s`` (its BN
    ``..._s_bn``), a pointwise one ``interstellar...`` (its BN ``bn...``);
    ``depthwise``/``pointwise`` are their positions in the mmshuffle
    branch."""
    if name.endswith('_s'):
        return f'{depthwise}.conv'
    if name.endswith('_s_bn'):
        return f'{depthwise}.bn'
    if name.startswith('interstellar'):
        return f'{pointwise}.conv'
    if name.startswith('bn'):
        return f'{pointwise}.bn'
    raise KeyError(name)


def _detnas_rule(key: str, state_dict: Mapping, arch: str) -> Optional[str]:
    common = [('first_conv.conv.', 'backbone.conv1.conv.'),
              ('first_conv.bn.', 'backbone.conv1.bn.'),
              ('last_conv.conv.', 'backbone.layers.4.conv.'),
              ('last_conv.bn.', 'backbone.layers.4.bn.'),
              ('fc.fc.', 'head.fc.')]
    for src, dst in common:
        if key.startswith(src):
            return dst + key[len(src):]
    m = re.fullmatch(r'features\.(\d+)\.(conv\.(\d)|proj_conv)\.(\w+)\.'
                     r'(\w+)', key)
    if not m:
        raise KeyError(key)
    stem = tuple(state_dict['first_conv.conv.weight'].shape)[0]
    stage, unit = _stage_unit(int(m.group(1)), DETNAS_BLOCKS[stem])
    prefix = f'backbone.layers.{stage}.{unit}'
    name, param = m.group(4), m.group(5)
    if m.group(2) == 'proj_conv':  # depthwise -> pointwise
        return f'{prefix}.branch_proj.{_detnas_layer(name, 0, 1)}.{param}'
    # MEGVII's conv.<part>: a ShuffleNet unit has a pointwise conv (part 0),
    # then a depthwise and a pointwise one (part 1); an Xception unit three
    # depthwise + pointwise pairs
    part = int(m.group(3))
    if 'xception' in name:
        layer = _detnas_layer(name, 2 * part, 2 * part + 1)
    else:
        layer = _detnas_layer(name, 1, 2 * part)
    return f'{prefix}.branch_main.{layer}.{param}'


# ------------------------------------------------ ShuffleNetV2.(Ex)Large

_AUX = {'predict_56': 'head.aux.0', 'predict_28': 'head.aux.1',
        'predict_14': 'head.aux.2'}
#: ExLarge's units per stage (its stage-closing conv comes after them)
EXLARGE_BLOCKS = (8, 16, 36, 10)


def _se_rule(rest: str, key: str, state_dict: Mapping) -> Optional[str]:
    """A unit's SE entry: ``se_block.0``/``.2`` (``.fc`` in ExLarge) ->
    ``se.fc1``/``se.fc2``; ``se_fc1``/``se_fc2``, the same layers under
    their other name, are dropped once their twin of the same shape is
    found. In a file the authors saved the twins are one tensor; where they
    differ, their loader (``load_state_dict`` loads both names, the later
    ``se_block`` one wins) and this one keep ``se_block``'s."""
    m = re.fullmatch(r'se_block\.([02])\.(?:fc\.)?(\w+)', rest)
    if m:
        return f'se.fc{int(m.group(1)) // 2 + 1}.{m.group(2)}'
    m = re.fullmatch(r'se_fc([12])\.((?:fc\.)?\w+)', rest)
    if m:
        twin = key.replace(f'se_fc{m.group(1)}.',
                           f'se_block.{2 * int(m.group(1)) - 2}.')
        if twin not in state_dict or \
                state_dict[twin].shape != state_dict[key].shape:
            raise ValueError(f'{key!r} repeats {twin!r}, which is missing or '
                             'of another shape')
        return None
    raise KeyError(rest)


def _large_rule(key: str, state_dict: Mapping, arch: str) -> Optional[str]:
    exlarge = arch == 'shufflenet-v2-exlarge'
    m = re.fullmatch(r'first_conv\.(\d)\.(conv|bn)\.(\w+)', key)
    if m:
        return f'backbone.stem.{m.group(1)}.{m.group(2)}.{m.group(3)}'
    m = re.fullmatch(r'(predict_\d\d)\.(.+)', key)
    if m:
        return f'{_AUX[m.group(1)]}.{m.group(2)}'
    if key.startswith('conv_last.') and not exlarge:
        return 'backbone.layers.4.' + key[len('conv_last.'):]
    fc = 'fc.fc.' if exlarge else 'fc.'
    if key.startswith(fc):
        return 'head.fc.' + key[len(fc):]
    pattern = r'features\.(\d)\.(\d+)\.(.+)' if exlarge else \
        r'features\.(\d)\.\d([a-z])\.(.+)'
    m = re.fullmatch(pattern, key)
    if not m:
        raise KeyError(key)
    stage, rest = int(m.group(1)), m.group(3)
    unit = int(m.group(2)) if exlarge else ord(m.group(2)) - ord('a')
    prefix = f'backbone.layers.{stage}.{unit}'
    if stage >= len(EXLARGE_BLOCKS):
        raise KeyError(key)
    if exlarge and unit == EXLARGE_BLOCKS[stage]:  # the stage's 1x1 conv
        return f'{prefix}.{rest}'
    if rest.startswith('se_'):
        new = _se_rule(rest, key, state_dict)
        return None if new is None else f'{prefix}.{new}'
    if re.match(r'(proj|branch_main\.\d|down)\.(conv|bn)\.', rest):
        return f'{prefix}.{rest}'
    raise KeyError(key)


RULES: Dict[str, Callable[[str, Mapping, str], Optional[str]]] = {
    'v1': _v1_rule,
    'v2': _v2_rule,
    'v2plus': _v2_plus_rule,
    'oneshot': _v2_plus_rule,
    'detnas': _detnas_rule,
    'large': _large_rule,
}
