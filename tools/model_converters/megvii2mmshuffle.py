"""Convert an official MEGVII ShuffleNet-Series ImageNet checkpoint.

    python tools/model_converters/megvii2mmshuffle.py SRC DST [--arch NAME]

SRC is one of the files the paper authors publish with their
ShuffleNet-Series code (``{'state_dict': ...}`` or a bare state dict, keys
with or without ``module.``); DST is written atomically with mmshuffle's
``ImageClassifier`` keys, for the ``configs/*/<NAME>_megvii-in1k.py``
config of the same network (``tools/test.py``, ``load_from``, or a
detector's ``init_cfg=dict(type='Pretrained', checkpoint=DST,
prefix='backbone.')``). The network is recognised from the shapes unless
``--arch`` names it; a file that does not fit is refused with one line
naming the first key or shape that does not, and nothing is written. SRC is
read with ``weights_only=True``: a file holding anything but tensors and
containers is refused unread.
"""
import argparse
import io
import os.path as osp

import torch

from mmshuffle.converters.megvii import ARCHS, convert, detect_arch
from mmshuffle.engine.checkpoint import load_checkpoint_file
from mmshuffle.engine.cli import CLIError, run_cli
from mmshuffle.engine.fileio import atomic_write


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='MEGVII checkpoint file')
    parser.add_argument('dst', help='converted checkpoint to write')
    parser.add_argument(
        '--arch',
        choices=sorted(ARCHS),
        help='the network (default: recognised from the weights)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        source = load_checkpoint_file(args.src, map_location='cpu')
        if not isinstance(source, dict):
            raise ValueError(f'it holds a {type(source).__name__}, not a '
                             'state dict')
        arch = args.arch or detect_arch(source)
        converted = convert(source, arch)
    except (ValueError, FileNotFoundError) as err:
        raise CLIError(f'{args.src}: {err}') from None
    buffer = io.BytesIO()
    torch.save(
        {
            'state_dict': converted,
            'meta': dict(
                source=osp.basename(args.src),
                arch=arch,
                config=f'{arch}_megvii-in1k')
        }, buffer)
    atomic_write(buffer.getvalue(), args.dst)
    print(f'{args.src} -> {args.dst} ({arch}, {len(converted)} tensors; '
          f'config {arch}_megvii-in1k.py)')


if __name__ == '__main__':
    run_cli(main)
