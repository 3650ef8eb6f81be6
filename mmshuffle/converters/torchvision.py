"""Convert torchvision's ShuffleNet V2 and MobileNet V2 weights.

:func:`convert_torchvision` is a pure function: it returns a new state dict
with mmshuffle's (= mmpretrain's) ``ImageClassifier`` keys (``backbone.*``,
``head.fc.*``), leaves tensors untouched (a key rename gives identical
outputs: the dataflow is the same), and is a no-op on an already converted
dict. :func:`check_against_model` refuses a state dict of the wrong
architecture or width, naming the first mismatching key and shape.
"""
import re
from collections import OrderedDict
from typing import Dict, Mapping, Tuple

import torch

# ---------------------------------------------------------------- helpers


def unwrap(checkpoint: Mapping) -> Mapping:
    """The state dict inside a checkpoint (``state_dict``/``model`` keys)."""
    for key in ('state_dict', 'model'):
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            return checkpoint[key]
    return checkpoint


def is_converted(state_dict: Mapping) -> bool:
    return any(k.startswith('backbone.') for k in state_dict)


# ------------------------------------------------------- ShuffleNet V2


def _shufflenet_v2_rules(key: str) -> str:
    m = re.match(r'stage([234])\.(\d+)\.(branch[12])\.(.*)', key)
    if m:
        stage, unit, branch, rest = m.groups()
        prefix = f'backbone.layers.{int(stage) - 2}.{unit}.{branch}'
        # torchvision: branch1 = [dw, bn, pw, bn, relu]
        #              branch2 = [pw, bn, relu, dw, bn, pw, bn, relu]
        layout = {
            'branch1': {0: (0, 'conv'), 1: (0, 'bn'), 2: (1, 'conv'),
                        3: (1, 'bn')},
            'branch2': {0: (0, 'conv'), 1: (0, 'bn'), 3: (1, 'conv'),
                        4: (1, 'bn'), 5: (2, 'conv'), 6: (2, 'bn')},
        }[branch]
        idx, tail = rest.split('.', 1)
        module, kind = layout[int(idx)]
        return f'{prefix}.{module}.{kind}.{tail}'
    for src, dst in (('conv1.0.', 'backbone.conv1.conv.'),
                     ('conv1.1.', 'backbone.conv1.bn.'),
                     ('conv5.0.', 'backbone.layers.3.conv.'),
                     ('conv5.1.', 'backbone.layers.3.bn.'),
                     ('fc.', 'head.fc.')):
        if key.startswith(src):
            return dst + key[len(src):]
    raise KeyError(key)


# --------------------------------------------------------- MobileNet V2

_MOBILENET_V2_BLOCKS = (1, 2, 3, 4, 3, 3, 1)


def _mobilenet_v2_rules(key: str) -> str:
    m = re.match(r'features\.(\d+)\.(.*)', key)
    if m:
        index, rest = int(m.group(1)), m.group(2)
        if index == 0:
            idx, tail = rest.split('.', 1)
            return f'backbone.conv1.{"conv" if idx == "0" else "bn"}.{tail}'
        if index == sum(_MOBILENET_V2_BLOCKS) + 1:
            idx, tail = rest.split('.', 1)
            return f'backbone.conv2.{"conv" if idx == "0" else "bn"}.{tail}'
        block, layer = index - 1, 0
        while block >= _MOBILENET_V2_BLOCKS[layer]:
            block -= _MOBILENET_V2_BLOCKS[layer]
            layer += 1
        prefix = f'backbone.layer{layer + 1}.{block}.conv'
        parts = rest.split('.')  # conv.<i>[.<j>].<param>
        expand = layer > 0
        # torchvision: expand blocks = [CNA(pw), CNA(dw), pw conv, bn]
        #              t=1 block     = [CNA(dw), pw conv, bn]
        last_conv = 2 if expand else 1
        i = int(parts[1])
        if i < last_conv:  # a Conv2dNormActivation: .<i>.<0 conv|1 bn>.
            kind = 'conv' if parts[2] == '0' else 'bn'
            return f'{prefix}.{i}.{kind}.{".".join(parts[3:])}'
        kind = 'conv' if i == last_conv else 'bn'
        return f'{prefix}.{last_conv}.{kind}.{".".join(parts[2:])}'
    if key.startswith('classifier.1.'):
        return 'head.fc.' + key[len('classifier.1.'):]
    raise KeyError(key)


# --------------------------------------------------------------- public

ARCHS = {
    'shufflenet_v2': _shufflenet_v2_rules,
    'mobilenet_v2': _mobilenet_v2_rules,
}


def detect_arch(state_dict: Mapping) -> str:
    if any(k.startswith('stage2.') for k in state_dict):
        return 'shufflenet_v2'
    if any(k.startswith('features.') for k in state_dict):
        return 'mobilenet_v2'
    raise ValueError('not a torchvision ShuffleNet V2 or MobileNet V2 state '
                     f'dict (first keys: {list(state_dict)[:3]})')


def convert_torchvision(checkpoint: Mapping) -> OrderedDict:
    """torchvision ``shufflenet_v2_x*`` / ``mobilenet_v2`` state dict ->
    mmshuffle ``ImageClassifier`` state dict (a new dict; no-op on an
    already converted one)."""
    state_dict = unwrap(checkpoint)
    if is_converted(state_dict):
        return OrderedDict(state_dict)
    rules = ARCHS[detect_arch(state_dict)]
    out = OrderedDict()
    for key, value in state_dict.items():
        try:
            new_key = rules(key)
        except (KeyError, ValueError, IndexError):
            raise ValueError(f'unexpected key {key!r} in the torchvision '
                             'state dict') from None
        out[new_key] = value
    return out


def check_against_model(state_dict: Mapping,
                        model: torch.nn.Module) -> None:
    """Raise ``ValueError`` naming the first key or shape that does not
    match ``model``'s state dict (the model the weights are meant for)."""
    expected: Dict[str, Tuple] = {
        k: tuple(v.shape)
        for k, v in model.state_dict().items()
    }
    for key in state_dict:
        if key not in expected:
            raise ValueError(f'key {key!r} does not exist in the target '
                             f'{type(model).__name__}; wrong architecture?')
    for key, value in state_dict.items():
        if tuple(value.shape) != expected[key]:
            raise ValueError(
                f'{key!r} has shape {tuple(value.shape)} but the target '
                f'model expects {expected[key]}; wrong width?')
    missing = [k for k in expected if k not in state_dict]
    if missing:
        raise ValueError(f'the state dict lacks {len(missing)} keys of the '
                         f'target model, first {missing[0]!r}')
