"""Convert a torchvision ShuffleNet V2 / MobileNet V2 checkpoint.

    python tools/model_converters/torchvision2mmshuffle.py SRC DST
        [--arch shufflenet-v2-0.5x|shufflenet-v2-1x|shufflenet-v2-1.5x|
                shufflenet-v2-2x|mobilenet-v2-1x]

SRC is a torchvision weights file (e.g. shufflenetv2_x1-5666bf0f80.pth,
mobilenet_v2-b0353104.pth); DST is written with mmshuffle's
``ImageClassifier`` keys (``backbone.*``, ``head.fc.*``), loadable by
``tools/test.py``, ``load_from`` and ``init_cfg=dict(type='Pretrained',
checkpoint=DST, prefix='backbone.')``. The converted weights are checked
against the model of ``--arch`` (inferred from the weights when omitted)
and nothing is written when a key or shape does not match.
"""
import argparse
import os
import os.path as osp
import sys

import torch

import mmshuffle  # noqa: F401
from mmshuffle.converters import (check_against_model, convert_torchvision,
                                  detect_arch, unwrap)
from mmshuffle.engine.checkpoint import (CheckpointReadError,
                                         load_checkpoint_file)

#: architecture -> (backbone type, widen_factor); the head's width is the
#: backbone's last out_channels
ARCHS = {
    'shufflenet-v2-0.5x': ('mmshuffle.ShuffleNetV2', 0.5),
    'shufflenet-v2-1x': ('mmshuffle.ShuffleNetV2', 1.0),
    'shufflenet-v2-1.5x': ('mmshuffle.ShuffleNetV2', 1.5),
    'shufflenet-v2-2x': ('mmshuffle.ShuffleNetV2', 2.0),
    'mobilenet-v2-1x': ('mmshuffle.MobileNetV2', 1.0),
}
CONV5_WIDTH = {(24, 48): 'shufflenet-v2-0.5x', (24, 116): 'shufflenet-v2-1x',
               (24, 176): 'shufflenet-v2-1.5x', (24, 244): 'shufflenet-v2-2x'}


def build_classifier(arch: str, num_classes: int):
    from mmshuffle.models.classifier import build_classifier as classifier
    backbone, width = ARCHS[arch]
    return classifier(dict(type=backbone, widen_factor=width),
                      num_classes=num_classes)


def guess_arch(state_dict) -> str:
    if detect_arch(state_dict) == 'mobilenet_v2':
        return 'mobilenet-v2-1x'
    w = state_dict['stage2.0.branch1.2.weight'].shape[:2]
    key = (int(w[1]), int(w[0]) * 2)
    if key not in CONV5_WIDTH:
        raise ValueError(f'unknown ShuffleNet V2 width (stage 2 has '
                         f'{key[1]} channels)')
    return CONV5_WIDTH[key]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--arch', choices=sorted(ARCHS))
    args = parser.parse_args(argv)
    try:
        source = unwrap(load_checkpoint_file(args.src, map_location='cpu'))
        arch = args.arch or guess_arch(source)
        converted = convert_torchvision(source)
        num_classes = converted['head.fc.weight'].shape[0]
        check_against_model(converted, build_classifier(arch, num_classes))
    except (ValueError, KeyError, FileNotFoundError,
            CheckpointReadError) as err:
        sys.exit(f'error: {args.src}: {err}')
    tmp = f'{args.dst}.tmp.{os.getpid()}'
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save({'state_dict': converted, 'meta': dict(source=args.src,
                                                       arch=arch)}, tmp)
    os.replace(tmp, args.dst)
    print(f'{args.src} -> {args.dst} ({arch}, {len(converted)} tensors)')


if __name__ == '__main__':
    main()
