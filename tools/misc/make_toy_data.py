"""Generate the built-in toy data sets (deterministic, no download).

    python tools/misc/make_toy_data.py cls [OUT_DIR] [--num-train N]
        [--num-val N] [--size PX] [--train-seed S] [--val-seed S] [--force]

``cls``: coloured shapes (circle, square, triangle, star, ring, cross) on
textured noisy backgrounds, in mmpretrain's folder format (default
OUT_DIR: data/toy_shapes). An existing complete data set made with the same
arguments is kept unless --force is given.
"""
import argparse
import json
import os.path as osp
import shutil
import sys

from mmshuffle.datasets.toy import make_toy_classification

DEFAULT_DIRS = dict(cls='data/toy_shapes')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('task', choices=sorted(DEFAULT_DIRS))
    parser.add_argument('out_dir', nargs='?')
    parser.add_argument('--num-train', type=int, default=3000)
    parser.add_argument('--num-val', type=int, default=600)
    parser.add_argument('--size', type=int, default=96)
    parser.add_argument('--train-seed', type=int, default=0)
    parser.add_argument('--val-seed', type=int, default=1)
    parser.add_argument(
        '--force', action='store_true', help='regenerate even if present')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out_dir = args.out_dir or DEFAULT_DIRS[args.task]
    wanted = dict(
        num_train=args.num_train,
        num_val=args.num_val,
        size=args.size,
        train_seed=args.train_seed,
        val_seed=args.val_seed)
    info_file = osp.join(out_dir, 'meta', 'info.json')
    if osp.isfile(info_file) and not args.force:
        with open(info_file) as f:
            info = json.load(f)
        if all(info.get(k) == v for k, v in wanted.items()):
            print(f'{out_dir}: complete toy data set present, kept '
                  '(--force regenerates it)')
            return
    if osp.isdir(out_dir):
        shutil.rmtree(out_dir)  # stale or incomplete: start clean
    try:
        counts = make_toy_classification(out_dir, **wanted)
    except ValueError as err:
        sys.exit(f'error: {err}')
    for split, per_class in counts.items():
        print(f'{split}: {sum(per_class.values())} images, per class '
              f'{per_class}')


if __name__ == '__main__':
    main()
