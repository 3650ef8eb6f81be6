"""Side-by-side speed benchmarks, all models in one process on the same
inputs.

    python tools/analysis_tools/benchmark.py det [--sizes 320 640]
        [--threads 1] [--runs 10] [--warmup 2] [--json FILE]

``det``: forward latency (image tensor to head outputs, batch 1, fp32) of
mmdet's stock RetinaNet-ResNet18-FPN against RetinaNet and RetinaNet-lite
on the mmshuffle backbones, with the ratio to the ResNet-18 model.
"""
import argparse
import json
import os.path as osp
import platform
import statistics
import time

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REFERENCE_DET = 'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py'
DET_CONFIGS = [
    REFERENCE_DET,
    'configs/retinanet/retinanet_shufflenet-v2-1x_fpn_1x_coco.py',
    'configs/retinanet/retinanet_shufflenet-v1-1x-g3_fpn_1x_coco.py',
    'configs/retinanet/retinanet_mobilenet-v2-1x_fpn_1x_coco.py',
    'configs/retinanet/retinanet-lite_shufflenet-v2-1x_lite-fpn_1x_coco.py',
    'configs/retinanet/'
    'retinanet-lite_shufflenet-v1-1x-g3_lite-fpn_1x_coco.py',
    'configs/retinanet/retinanet-lite_mobilenet-v2-1x_lite-fpn_1x_coco.py',
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='mode', required=True)
    det = sub.add_parser('det', help='detector forward latency')
    det.add_argument('--sizes', type=int, nargs='+', default=[320, 640])
    det.add_argument('--threads', type=int, default=1)
    det.add_argument('--runs', type=int, default=10)
    det.add_argument('--warmup', type=int, default=2)
    det.add_argument('--json', help='also write the results to this file')
    return parser.parse_args(argv)


def build_detector(path):
    from mmdet.registry import MODELS
    if path.startswith('mmdet::'):  # a config shipped inside mmdet
        from mmengine.hub import get_config
        cfg = get_config(path, pretrained=False)
    else:
        cfg = Config.fromfile(osp.join(ROOT, path))
    cfg.model.backbone.init_cfg = None  # random weights: speed only
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    return model.eval()


def time_forward(fn, inputs, runs, warmup):
    with torch.no_grad():
        for _ in range(warmup):
            fn(inputs)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn(inputs)
            times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return dict(
        median_ms=statistics.median(times),
        p90_ms=times[min(len(times) - 1, int(0.9 * len(times)))],
        runs=runs)


def bench_det(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = []
    for size in args.sizes:
        inputs = torch.randn(1, 3, size, size)
        ref = None
        for path in DET_CONFIGS:
            model = build_detector(path)
            timing = time_forward(model._forward, inputs, args.runs,
                                  args.warmup)
            ref = ref or timing['median_ms']
            name = osp.basename(path)[:-3]
            results.append(
                dict(
                    model=name,
                    size=size,
                    ratio=timing['median_ms'] / ref,
                    params=sum(p.numel() for p in model.parameters()),
                    **timing))
            print(f'{size:>5}  {name:<58} {timing["median_ms"]:>9.1f} ms '
                  f'(p90 {timing["p90_ms"]:.1f})  x{results[-1]["ratio"]:.2f}',
                  flush=True)
    return results


def main(argv=None):
    args = parse_args(argv)
    print(f'torch {torch.__version__}, {platform.processor() or "cpu"}, '
          f'{args.threads} thread(s), batch 1, fp32; ratio = median / '
          'RetinaNet-ResNet18-FPN median at the same size', flush=True)
    results = bench_det(args)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    mode=args.mode,
                    threads=args.threads,
                    torch=torch.__version__,
                    results=results),
                f,
                indent=2)


if __name__ == '__main__':
    main()
