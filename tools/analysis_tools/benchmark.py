"""Side-by-side speed benchmarks, all models in one process on the same
inputs.

    python tools/analysis_tools/benchmark.py cls [--archs A ...]
        [--paths P ...] [--threads 1 2] [--shape H [W]] [--batch 32]
        [--runs 50] [--warmup 10] [--json FILE] [--png FILE]
    python tools/analysis_tools/benchmark.py train [--archs A ...]
        [--batch 32] [--shape H [W]] [--steps 10] [--json FILE]
    python tools/analysis_tools/benchmark.py det [--toy] [--paths P ...]
        [--models M ...] [--sizes 320 640] [--threads 1 0] [--runs 10]
        [--warmup 2] [--nms-pre N] [--profile] [--json FILE]

``cls``: classifier latency at batch 1 (median, p90) and throughput at
``--batch``, per thread count, for torchvision eager, mmpretrain eager,
mmshuffle eager, + deploy (BN folded), + channels_last, + torch.compile,
mmshuffle in onnxruntime and torchvision's ONNX export in onnxruntime; the
ratio is against torchvision eager (mmpretrain eager for ShuffleNet V1,
which torchvision lacks). ``--threads 0`` means all cores.

``train``: training-step throughput (forward, loss, backward, SGD step) of
the mmshuffle classifier against mmpretrain's, same architecture.

``cls`` also measures OpenVINO (asked for f32; the row records the
precision that ran) and INT8 (onnxruntime static QDQ quantization) on the
mmshuffle export, ExecuTorch (``--paths executorch 'executorch int8'``) and
ncnn (``--paths ncnn``), ShuffleNetV2+ Small/Medium/Large (ratio against
ShuffleNetV2 1x torchvision eager), and with ``--profile`` where
onnxruntime spends the ShuffleNetV2 1x call (its profiler, per operator
type, fp32 and INT8, 1 thread).

``det``: latency (batch 1) of mmdet's stock RetinaNet-ResNet18-FPN against
RetinaNet, RetinaNet-lite, SSDLite 320, RTMDet-lite 320, Faster R-CNN and
Light-Head R-CNN on the mmshuffle backbones (COCO configs, 80 classes), with
the ratio to the ResNet-18 model. A two-stage detector's ``forward`` runs its
RPN proposals (decoding and NMS included) and its R-CNN head on them. ``det
--toy`` measures the toy detectors of docs/detection.md's accuracy-latency
table instead (4 classes; the ratio is to the toy RetinaNet on ShuffleNet V2).
``--paths forward`` (the default) times the network alone (image tensor to head
outputs, fp32); the end-to-end paths time image tensor to final boxes
(decoding, score threshold, NMS, top-K; pre-processing excluded): ``pytorch``
is mmdet's eager predict path (mmcv's NMS), ``onnxruntime``/``openvino`` the
graph of ``tools/deployment/pytorch2onnx.py`` (OpenVINO asked for f32),
``onnxruntime int8``/``openvino int8`` its INT8 QDQ twin. The reference runs
the PyTorch paths only. ``executorch``/``executorch int8`` run the ExecuTorch
programs of ``tools/deployment/export.py --format executorch`` (XNNPACK; NMS on
the host, numpy, included in the time; an INT8 program per size); ``ncnn``
runs the ncnn model of ``--format ncnn`` (pnnx, fp32; decoding and NMS on the
host, numpy, included in the time); two-stage detectors have neither and get
no rows there. For the end-to-end paths the score
threshold of the test settings is set to 0 and their minimum box size turned
off (:func:`mmshuffle.analysis.bench.detectors.zero_score_threshold`, sigmoid
and softmax heads alike): every candidate then clears them, so that NMS works
on the full ``nms_pre`` candidates per level, its heaviest case (the random
heads would otherwise score every box under the threshold, and their random
regression can make every box degenerate); an end-to-end row that finds no
box is logged. The models take turns
call by call, so that they share the machine's state. ``--nms-pre N`` caps
every detector's candidates per level before NMS (as ``export.py
--nms-pre``; the default keeps each config's). Each call is timed as
wall time and as the CPU time of the process (with one thread the same on an
idle machine; the CPU time does not grow with other processes' load, which the
JSON records as load averages). ``--profile`` adds where onnxruntime spends
RetinaNet-lite ShuffleNetV2 1x's call at the smallest size, 1 thread.
"""
import json
import os
import os.path as osp

import torch
from mmengine.config import Config

import mmshuffle  # noqa: F401
from mmshuffle.analysis.bench.classifiers import (ARCHS, PATHS, TRAIN_ARCHS,
                                                  bench_classifiers,
                                                  compute_floor)
from mmshuffle.analysis.bench.detectors import (DET_PATHS, bench_detectors,
                                                zero_score_threshold)
from mmshuffle.analysis.bench.profile import (ort_op_profile,
                                              profile_classifier)
from mmshuffle.analysis.bench.timing import (cpu_name, machine,
                                             random_inputs,
                                             sgemm_peak_gflops)
from mmshuffle.analysis.bench.training import bench_training
from mmshuffle.analysis.report import draw_chart
from mmshuffle.deploy.detection import set_nms_pre
from mmshuffle.analysis.toy_table import toy_det_configs
from mmshuffle.engine.cli import CLIError, OneLineArgumentParser, run_cli
from mmshuffle.engine.configs import build_model
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
    'configs/ssdlite/ssdlite_shufflenet-v2-1x_320_coco.py',
    'configs/ssdlite/ssdlite_shufflenet-v1-1x-g3_320_coco.py',
    'configs/ssdlite/ssdlite_mobilenet-v2-1x_320_coco.py',
    'configs/rtmdet_lite/rtmdet-lite_shufflenet-v2-1x_320_coco.py',
    'configs/rtmdet_lite/rtmdet-lite_shufflenet-v1-1x-g3_320_coco.py',
    'configs/rtmdet_lite/rtmdet-lite_mobilenet-v2-1x_320_coco.py',
    'configs/faster_rcnn/faster-rcnn_shufflenet-v2-1x_fpn_1x_coco.py',
    'configs/faster_rcnn/faster-rcnn_shufflenet-v1-1x-g3_fpn_1x_coco.py',
    'configs/faster_rcnn/faster-rcnn_mobilenet-v2-1x_fpn_1x_coco.py',
    'configs/light_head_rcnn/'
    'light-head-rcnn_shufflenet-v2-1x_small-head_20e_coco.py',
    'configs/light_head_rcnn/'
    'light-head-rcnn_shufflenet-v1-1x-g3_small-head_20e_coco.py',
    'configs/light_head_rcnn/'
    'light-head-rcnn_mobilenet-v2-1x_small-head_20e_coco.py',
]
#: ``det --toy``: the toy detectors of docs/detection.md's accuracy-latency
#: table (4 classes), against the toy RetinaNet that make demo trains
TOY_DET_CONFIGS = toy_det_configs()
TOY_REFERENCE_DET = 'configs/toy/retinanet_shufflenet-v2-1x_fpn_toy-det.py'
#: the detector whose targets docs/benchmarks.md tracks (and --profile)
TARGET_DET = 'retinanet-lite_shufflenet-v2-1x_lite-fpn_1x_coco'
#: the classifier whose targets docs/benchmarks.md tracks
TARGET_ARCH = 'shufflenet-v2-1x'


def model_name(path):
    return osp.basename(path)[:-3]


def parse_args(argv=None):
    parser = OneLineArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='mode', required=True,
                                parser_class=OneLineArgumentParser)
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
    cls.add_argument('--profile', action='store_true',
                     help=f'profile {TARGET_ARCH} in onnxruntime (fp32 and '
                     'INT8, 1 thread), per operator type')
    train = sub.add_parser('train', help='training-step throughput')
    train.add_argument('--archs', nargs='+', default=list(TRAIN_ARCHS),
                       choices=list(TRAIN_ARCHS))
    train.add_argument('--batch', type=int, default=32)
    train.add_argument('--shape', type=int, nargs='+', default=[224])
    train.add_argument('--steps', type=int, default=10)
    train.add_argument('--warmup', type=int, default=2)
    train.add_argument('--json', help='also write the results to this file')
    det = sub.add_parser('det', help='detector latency')
    det.add_argument('--paths', nargs='+', default=['forward'],
                     choices=list(DET_PATHS),
                     help='forward: the network alone; the others end to '
                     'end (default: forward)')
    names = [model_name(p) for p in DET_CONFIGS[1:] + TOY_DET_CONFIGS
             if p != TOY_REFERENCE_DET]
    det.add_argument('--models', nargs='+', choices=names,
                     help='the detectors besides the reference (default: '
                     'all of the set)')
    det.add_argument('--toy', action='store_true',
                     help='the toy detectors of the accuracy-latency table '
                     f'(4 classes) against {model_name(TOY_REFERENCE_DET)}, '
                     'instead of the COCO configs against mmdet\'s '
                     'RetinaNet-ResNet18-FPN')
    det.add_argument('--sizes', type=int, nargs='+', default=[320, 640])
    det.add_argument('--threads', type=int, nargs='+', default=[1],
                     help='thread counts to measure (0 = all cores)')
    det.add_argument('--profile', action='store_true',
                     help=f'profile {TARGET_DET} in onnxruntime at the '
                     'smallest size, 1 thread')
    det.add_argument('--nms-pre', type=int,
                     help="cap every detector's candidates per level before "
                     "NMS (the dense head's test_cfg nms_pre, a two-stage "
                     "detector's RPN's; default: each config's)")
    det.add_argument('--runs', type=int, default=10)
    det.add_argument('--warmup', type=int, default=2)
    det.add_argument('--json', help='also write the results to this file')
    return parser.parse_args(argv)


def build_detector(path):
    """The detector of a config in the repository or shipped inside mmdet
    (``mmdet::...``), random weights: speed only."""
    if path.startswith('mmdet::'):
        from mmengine.hub import get_config
        cfg = get_config(path, pretrained=False)
    else:
        cfg = Config.fromfile(osp.join(ROOT, path))
    return build_model(cfg, pretrained=False).eval()


def det_set(toy):
    """(reference config, the other configs) of ``det`` or ``det --toy``."""
    if toy:
        return TOY_REFERENCE_DET, [p for p in TOY_DET_CONFIGS
                                   if p != TOY_REFERENCE_DET]
    return REFERENCE_DET, DET_CONFIGS[1:]


def bench_det(args, threads):
    """Every detector of DET_CONFIGS (those of ``--models`` and the
    reference) on every path, size and thread count
    (:func:`mmshuffle.analysis.bench.detectors.bench_detectors`); with
    ``--profile`` also the onnxruntime profile of TARGET_DET."""
    import tempfile
    reference, pool = det_set(args.toy)
    configs = [reference] + [p for p in pool if model_name(p) in args.models]
    with torch.random.fork_rng(devices=[]), \
            tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        models = {model_name(p): build_detector(p) for p in configs}
        if args.nms_pre is not None:
            for model in models.values():
                set_nms_pre(model, args.nms_pre)
        if any(p != 'forward' for p in args.paths):
            # random heads score every prior under the threshold: a zero
            # threshold lets decoding and NMS do their full work
            for model in models.values():
                zero_score_threshold(model)
        rows = bench_detectors(models, model_name(reference),
                               args.paths, threads, args.sizes, args.runs,
                               args.warmup, directory=tmp)
        for row in rows:
            row['config'] = [p for p in configs
                             if model_name(p) == row['model']][0]
        profiles = []
        if args.profile:
            size = min(args.sizes)
            x = random_inputs((size, size), 1, seed=1)[0]
            for path in ('onnxruntime', 'onnxruntime int8'):
                name = TARGET_DET + ('_int8' if 'int8' in path else '')
                onnx_path = osp.join(tmp, name + '.onnx')
                if path in args.paths and osp.isfile(onnx_path):
                    profiles.append(dict(
                        ort_op_profile(onnx_path, x, 1, max(args.runs, 5)),
                        model=TARGET_DET, path=path, size=size))
    return rows, profiles


def check_positive(name, value):
    if value < 1:
        raise CLIError(f'{name} must be >= 1, got {value}')


def check_threads(values):
    """``--threads``: counts >= 0 (0 = all cores), as thread counts."""
    for value in values:
        if value < 0:
            raise CLIError(f'--threads must be >= 0 (0 = all cores), got '
                           f'{value}')
    return list(dict.fromkeys(v or os.cpu_count() for v in values))


def parse_shape(values):
    if len(values) not in (1, 2) or min(values) < 32:
        raise CLIError(f'--shape takes H or H W (>= 32), got {values}')
    return tuple(values * 2 if len(values) == 1 else values)


def main(argv=None):
    args = parse_args(argv)
    info = dict(mode=args.mode)
    if args.mode == 'cls':
        for name in ('runs', 'warmup', 'batch'):
            check_positive(f'--{name}', getattr(args, name))
        shape = parse_shape(args.shape)
        threads = check_threads(args.threads)
        info.update(machine=machine(), shape=shape, batch=args.batch,
                    runs=args.runs, warmup=args.warmup, threads=threads,
                    load_average_before=os.getloadavg())
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
        if args.profile:
            info['profiles'] = profile_classifier(TARGET_ARCH, shape)
            print_profiles(info['profiles'])
        info['load_average_after'] = os.getloadavg()
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
        check_positive('--runs', args.runs)
        if args.nms_pre is not None:
            check_positive('--nms-pre', args.nms_pre)
        if args.warmup < 0:
            raise CLIError(f'--warmup must be >= 0, got {args.warmup}')
        threads = check_threads(args.threads)
        for size in args.sizes:
            if size < 32 or size % 32:
                raise CLIError(f'--sizes must be multiples of 32 (>= 32), '
                               f'got {size}')
        if args.profile and 'onnxruntime' not in args.paths:
            raise CLIError('--profile profiles the onnxruntime path: add '
                           'onnxruntime to --paths')
        _, pool = det_set(args.toy)
        names = [model_name(p) for p in pool]
        if args.models is None:
            args.models = names
        wrong = [m for m in args.models if m not in names]
        if wrong:
            raise CLIError(f'--models {wrong[0]} is not in the '
                           f'{"toy " if args.toy else ""}set; choose from '
                           f'{names}')
        if args.profile and TARGET_DET not in args.models:
            raise CLIError(f'--profile profiles {TARGET_DET}: add it to '
                           '--models')
        reference = ('the toy RetinaNet on ShuffleNet V2' if args.toy else
                     'RetinaNet-ResNet18-FPN')
        print(f'torch {torch.__version__}, {cpu_name()}, threads '
              f'{threads}, batch 1; ratio = median / {reference} median '
              '(same path kind, size and threads)', flush=True)
        info.update(machine=machine(), paths=args.paths, toy=args.toy,
                    models=args.models, nms_pre=args.nms_pre,
                    threads=threads, sizes=args.sizes, runs=args.runs,
                    warmup=args.warmup, load_average_before=os.getloadavg())
        results, profiles = bench_det(args, threads)
        if profiles:
            info['profiles'] = profiles
            print_profiles(profiles)
        info['load_average_after'] = os.getloadavg()
    if args.json:
        text = json.dumps(dict(info, results=results), indent=2) + '\n'
        atomic_write(text.encode(), args.json)
        print(f'results: {args.json}')


def print_profiles(profiles):
    for prof in profiles:
        ops = ', '.join(f'{o["op"]} {o["share"]:.0%}' for o in prof['ops'])
        print(f'profile {prof.get("arch") or prof.get("model")} '
              f'{prof["path"]}: {prof["total_ms"]:.2f} ms of kernels per '
              f'call: {ops}')


if __name__ == '__main__':
    run_cli(main)
