"""The main demo: learn the built-in toy shapes with ShuffleNet V2.

    python tools/misc/demo.py [--config CFG] [--work-dir DIR] [--min-top1 90]

Generates the toy data if missing (data/toy_shapes), trains the classifier
with tools/train.py, evaluates the last checkpoint with tools/test.py, prints
its top-1 accuracy and fails (exit 1) if it is below --min-top1.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join('configs', 'toy',
                          'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/demo_toy_shapes')
    parser.add_argument('--min-top1', type=float, default=90.0)
    return parser.parse_args(argv)


def step(title, cmd, capture=False):
    """Run one stage; its output streams live (and is returned when
    ``capture``)."""
    print(f'\n==> {title}\n    {" ".join(cmd)}', flush=True)
    start = time.time()
    proc = subprocess.run(
        cmd, cwd=ROOT, stdout=subprocess.PIPE if capture else None,
        text=True)
    if capture:
        sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.exit(f'demo: {title} failed (exit {proc.returncode})')
    return proc.stdout, time.time() - start


def main(argv=None):
    args = parse_args(argv)
    py = sys.executable
    step('toy data', [py, 'tools/misc/make_toy_data.py', 'cls'])
    _, train_s = step('train', [
        py, 'tools/train.py', args.config, '--work-dir', args.work_dir
    ])
    with open(osp.join(ROOT, args.work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    out, _ = step('test', [
        py, 'tools/test.py', args.config, ckpt, '--work-dir',
        osp.join(args.work_dir, 'test')
    ], capture=True)
    line = [ln for ln in out.splitlines() if ln.startswith('metrics ')][-1]
    top1 = json.loads(line[len('metrics '):])['accuracy/top1']
    print(f'\ndemo: {osp.basename(args.config)} trained in {train_s:.0f} s; '
          f'top-1 on the toy val split = {top1:.2f}% '
          f'(bar {args.min_top1:.0f}%), checkpoint {ckpt}')
    if top1 < args.min_top1:
        sys.exit(f'demo: top-1 {top1:.2f}% is below the bar '
                 f'{args.min_top1:.0f}%')


if __name__ == '__main__':
    main()
