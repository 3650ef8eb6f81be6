"""Draw training curves (loss, top-1, bbox mAP) of a work dir to an image.

    python tools/analysis_tools/analyze_logs.py WORK_DIR [--keys KEY ...]
        [--out FILE.png] [--title TEXT]

WORK_DIR is a training work dir (its newest run is used), a run folder
``WORK_DIR/<timestamp>`` or a ``scalars.json`` file, as written by mmengine's
LocalVisBackend. The default keys are ``loss`` and whichever of
``accuracy/top1``, ``coco/bbox_mAP``, ``coco/bbox_mAP_50`` the log has; the
default output is ``WORK_DIR/curves.png``.
"""
import argparse
import os.path as osp
import sys

from mmshuffle.analysis.logs import find_scalars, plot_curves


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir', help='work dir, run folder or '
                        'scalars.json')
    parser.add_argument('--keys', nargs='+', help='scalars to draw')
    parser.add_argument(
        '--out', help='image to write (default WORK_DIR/curves.png)')
    parser.add_argument('--title', help='title of the figure')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        scalars = find_scalars(args.work_dir)
        out = args.out
        if out is None:
            base = (args.work_dir if osp.isdir(args.work_dir) else
                    osp.dirname(args.work_dir))
            out = osp.join(base, 'curves.png')
        data = plot_curves(scalars, out, args.keys, args.title)
    except (FileNotFoundError, KeyError, ValueError) as e:
        sys.exit(f'analyze_logs: {e.args[0] if e.args else e}')
    for key, (label, xs, ys) in data.items():
        print(f'{key}: {len(xs)} points, last {ys[-1]:.4g} at {label} '
              f'{xs[-1]}')
    print(f'curves of {scalars} written to {out}')
    return out


if __name__ == '__main__':
    main()
