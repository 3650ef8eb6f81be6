"""Generate the built-in toy data sets (deterministic, no download).

    python tools/misc/make_toy_data.py {cls,det} [OUT_DIR] [--num-train N]
        [--num-val N] [--size PX] [--train-seed S] [--val-seed S] [--force]

``cls``: one coloured shape per image (circle, square, triangle, star,
ring, cross) on a textured noisy background, in mmpretrain's folder format
(default OUT_DIR data/toy_shapes; 3000/600 images of 96x96).
``det``: 1-6 shapes per image (circle, square, triangle, star; boxes 12 to
128 px), COCO format (default OUT_DIR data/toy_det; 800/200 images of
320x320). An existing complete data set made with the same arguments is
kept unless --force is given.
"""
import argparse
import json
import os.path as osp
import shutil
import sys

from mmshuffle.datasets.toy import (make_toy_classification,
                                    make_toy_detection)

TASKS = dict(
    cls=dict(
        out_dir='data/toy_shapes',
        make=make_toy_classification,
        info='meta/info.json',
        num_train=3000,
        num_val=600,
        size=96),
    det=dict(
        out_dir='data/toy_det',
        make=make_toy_detection,
        info='annotations/info.json',
        num_train=800,
        num_val=200,
        size=320),
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('task', choices=sorted(TASKS))
    parser.add_argument('out_dir', nargs='?')
    parser.add_argument('--num-train', type=int)
    parser.add_argument('--num-val', type=int)
    parser.add_argument('--size', type=int)
    parser.add_argument('--train-seed', type=int, default=0)
    parser.add_argument('--val-seed', type=int, default=1)
    parser.add_argument(
        '--force', action='store_true', help='regenerate even if present')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    task = TASKS[args.task]
    out_dir = args.out_dir or task['out_dir']
    wanted = dict(train_seed=args.train_seed, val_seed=args.val_seed)
    for key in ('num_train', 'num_val', 'size'):
        value = getattr(args, key)
        wanted[key] = task[key] if value is None else value
    info_file = osp.join(out_dir, task['info'])
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
        counts = task['make'](out_dir, **wanted)
    except ValueError as err:
        sys.exit(f'error: {err}')
    for split, count in counts.items():
        print(f'{split}: {count}')


if __name__ == '__main__':
    main()
