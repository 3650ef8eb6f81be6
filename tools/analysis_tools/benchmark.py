"""Side-by-side speed benchmarks, all models in one process on the same
inputs.

    python tools/analysis_tools/benchmark.py cls [--archs A ...]
        [--paths P ...] [--threads 1 2] [--shape H [W]] [--batch 32]
        [--runs 50] [--warmup 10] [--json FILE] [--png FILE]
    python tools/analysis_tools/benchmark.py train [--archs A ...]
        [--batch 32] [--shape H [W]] [--steps 10] [--json FILE]
    python tools/analysis_tools/benchmark.py det [--sizes 320 640]
        [--threads 1] [--runs 10] [--warmup 2] [--json FILE]

``cls``: classifier latency at batch 1 (median, p90) and throughput at
``--batch``, per thread count, for torchvision eager, mmpretrain eager,
mmshuffle eager, + deploy (BN folded), + channels_last, + torch.compile,
mmshuffle in onnxruntime and torchvision's ONNX export in onnxruntime; the
ratio is against torchvision eager (mmpretrain eager for ShuffleNet V1,
which torchvision lacks). ``--threads 0`` means all cores.

``train``: training-step throughput (forward, loss, backward, SGD step) of
the mmshuffle classifier against mmpretrain's, same architecture.

``det``: forward latency (image tensor to head outputs, batch 1, fp32) of
mmdet's stock RetinaNet-ResNet18-FPN against RetinaNet and RetinaNet-lite
on the mmshuffle backbones, with the ratio to the ResNet-18 model; the
models take turns call by call, so that they share the machine's state.
Each call is timed as wall time and as the CPU time of the process (with
one thread the same on an idle machine; the CPU time does not grow with
other processes' load, which the JSON records as load averages).
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401
from mmshuffle.analysis.speed import (ARCHS, PATHS, bench_classifiers,
                                      bench_training, compute_floor,
                                      draw_chart, median_p90,
                                      sgemm_peak_gflops, timed_call)
from mmshuffle.engine.fileio import atomic_write

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
    cls = sub.add_parser('cls', help='classifier inference speed')
    cls.add_argument('--archs', nargs='+', default=list(ARCHS),
                     choices=list(ARCHS))
    cls.add_argument('--paths', nargs='+', default=list(PATHS),
                     choices=list(PATHS))
    cls.add_argument('--threads', type=int, nargs='+', default=[1, 0],
                     help='thread counts to measure (0 = all cores)')
    cls.add_argument('--shape', type=int, nargs='+', default=[224])
    cls.add_argument('--batch', type=int, default=32,
                     help='batch size of the throughput measurement')
    cls.add_argument('--runs', type=int, default=50)
    cls.add_argument('--warmup', type=int, default=10)
    cls.add_argument('--json', help='also write the results to this file')
    cls.add_argument('--png', help='draw the 1-thread latencies to this PNG')
    train = sub.add_parser('train', help='training-step throughput')
    train.add_argument('--archs', nargs='+', default=list(ARCHS),
                       choices=list(ARCHS))
    train.add_argument('--batch', type=int, default=32)
    train.add_argument('--shape', type=int, nargs='+', default=[224])
    train.add_argument('--steps', type=int, default=10)
    train.add_argument('--warmup', type=int, default=2)
    train.add_argument('--json', help='also write the results to this file')
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


def bench_det(args):
    """Latency of every detector of DET_CONFIGS at every size.

    The models of one size take turns call by call (after their warm-up
    calls), so that all of them see the same machine state. Each call is
    timed twice: wall time, and the CPU time of this process, which with
    one thread equals the wall time on an idle machine and, unlike it, does
    not grow while other processes hold the cores. The thread count and
    random state are restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    results = []
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            models = {path: build_detector(path) for path in DET_CONFIGS}
            for size in args.sizes:
                inputs = torch.randn(1, 3, size, size)
                for model in models.values():
                    for _ in range(args.warmup):
                        model._forward(inputs)
                times = {path: [] for path in DET_CONFIGS}
                for _ in range(args.runs):
                    for path, model in models.items():
                        times[path].append(timed_call(model._forward,
                                                       inputs))
                ref_wall = statistics.median(
                    w for w, _ in times[REFERENCE_DET])
                ref_cpu = statistics.median(
                    c for _, c in times[REFERENCE_DET])
                for path, model in models.items():
                    wall, wall_p90 = median_p90(w for w, _ in times[path])
                    cpu, cpu_p90 = median_p90(c for _, c in times[path])
                    name = osp.basename(path)[:-3]
                    results.append(
                        dict(
                            model=name,
                            config=path,
                            reference=path == REFERENCE_DET,
                            size=size,
                            median_ms=wall,
                            p90_ms=wall_p90,
                            ratio=wall / ref_wall,
                            cpu_median_ms=cpu,
                            cpu_p90_ms=cpu_p90,
                            cpu_ratio=cpu / ref_cpu,
                            runs=args.runs,
                            params=sum(p.numel()
                                       for p in model.parameters())))
                    row = results[-1]
                    print(f'{size:>5}  {name:<58} wall {wall:>8.1f} ms '
                          f'x{row["ratio"]:.2f}  cpu {cpu:>8.1f} ms '
                          f'x{row["cpu_ratio"]:.2f}', flush=True)
    finally:
        torch.set_num_threads(previous)
    return results


def check_positive(name, value):
    if value < 1:
        raise SystemExit(f'error: {name} must be >= 1, got {value}')


def parse_shape(values):
    if len(values) not in (1, 2) or min(values) < 32:
        raise SystemExit(f'error: --shape takes H or H W (>= 32), got '
                         f'{values}')
    return tuple(values * 2 if len(values) == 1 else values)


def machine():
    import onnxruntime
    return dict(
        torch=torch.__version__,
        onnxruntime=onnxruntime.__version__,
        cpu=cpu_name(),
        cores=os.cpu_count(),
        python=platform.python_version())


def cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'cpu'


def main(argv=None):
    args = parse_args(argv)
    info = dict(mode=args.mode)
    if args.mode == 'cls':
        for name in ('runs', 'warmup', 'batch'):
            check_positive(f'--{name}', getattr(args, name))
        shape = parse_shape(args.shape)
        threads = [t or os.cpu_count() for t in args.threads]
        info.update(machine=machine(), shape=shape, batch=args.batch,
                    runs=args.runs, threads=threads)
        print(f'{info["machine"]}; input {shape}, fp32; latency at batch 1, '
              f'throughput at batch {args.batch}; ratio = median latency / '
              'torchvision eager (mmpretrain eager without a torchvision '
              'model)', flush=True)
        results = bench_classifiers(args.archs, args.paths, threads, shape,
                                    args.batch, args.runs, args.warmup)
        sgemm = sgemm_peak_gflops(threads=1)
        info['sgemm_gflops_1thread'] = sgemm
        print(f'sgemm 1024x1024, 1 thread: torch.mm {sgemm["torch"]:.0f} '
              f'GFLOP/s, onnxruntime MatMul {sgemm["onnxruntime"]:.0f} '
              'GFLOP/s')
        info['floor'] = [
            compute_floor(a, shape, sgemm['peak']) for a in args.archs
        ]
        for floor in info['floor']:
            print(f'{floor["arch"]:<20} compute floor, 1 thread: '
                  f'{floor["mult_adds"] / 1e6:.1f} M mult-adds at '
                  f'{sgemm["peak"]:.0f} GFLOP/s = {floor["floor_ms"]:.2f} ms')
        if args.png:
            draw_chart(results, args.png, threads=threads[0])
            print(f'chart: {args.png}')
    elif args.mode == 'train':
        check_positive('--steps', args.steps)
        check_positive('--batch', args.batch)
        shape = parse_shape(args.shape)
        info.update(machine=machine(), shape=shape, batch=args.batch,
                    threads=torch.get_num_threads())
        print(f'{info["machine"]}; training step, batch {args.batch}, input '
              f'{shape}, {torch.get_num_threads()} thread(s)', flush=True)
        results = bench_training(args.archs, args.batch, shape, args.steps,
                                 args.warmup)
    else:
        for name in ('runs', 'threads'):
            check_positive(f'--{name}', getattr(args, name))
        for size in args.sizes:
            if size < 32:
                raise SystemExit(f'error: --sizes must be >= 32, got {size}')
        print(f'torch {torch.__version__}, {cpu_name()}, '
              f'{args.threads} thread(s), batch 1, fp32; ratio = median / '
              'RetinaNet-ResNet18-FPN median at the same size', flush=True)
        info.update(machine=machine(), threads=args.threads,
                    sizes=args.sizes, runs=args.runs, warmup=args.warmup,
                    load_average_before=os.getloadavg())
        results = bench_det(args)
        info['load_average_after'] = os.getloadavg()
    if args.json:
        text = json.dumps(dict(info, results=results), indent=2) + '\n'
        atomic_write(text.encode(), args.json)
        print(f'results: {args.json}')


if __name__ == '__main__':
    main()
