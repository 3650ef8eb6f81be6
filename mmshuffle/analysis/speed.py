"""Side-by-side CPU speed of classifiers: mmshuffle's inference paths
against torchvision and mmpretrain, in one process on the same inputs.

Every path runs the same architecture at the same input, fp32:

* ``torchvision``: torchvision's model, eager (the reference of the ratios;
  ShuffleNet V1 has no torchvision model, its reference is mmpretrain);
* ``mmpretrain``: mmpretrain's ``ImageClassifier`` with its own backbone;
* ``mmshuffle``: the same classifier on the mmshuffle backbone, eager;
* ``+deploy``: BatchNorm folded into the convolutions;
* ``+channels_last``: deploy form in channels_last memory format;
* ``+compile``: the deploy form through ``torch.compile`` (inductor, frozen
  weights; NCHW, which inductor runs faster here than channels_last);
* ``onnxruntime``: the deploy form exported to ONNX, run in onnxruntime;
* ``torchvision onnxruntime``: torchvision's model exported the same way;
* ``openvino``: the same ONNX file in OpenVINO's CPU plugin, asked for f32
  (its default on CPUs with bf16 units is bf16; the row records the
  precision the plugin reports);
* ``onnxruntime int8`` / ``openvino int8``: that file quantized to INT8 by
  :func:`mmshuffle.deploy.quantize.quantize_onnx` (onnxruntime's static
  QDQ quantization: per-channel int8 weights, uint8 activations calibrated
  min-max on :data:`CALIB_INPUTS` seeded random inputs, which set the
  ranges only: speed does not depend on them), run in each runtime.

ShuffleNetV2+ (the authors' classifier: SE pooling neck, bias-free head)
has neither a torchvision nor an mmpretrain model: its ratio is against
ShuffleNetV2 1x torchvision eager of the same run and thread count.

Latency is measured at batch 1 (median and 90th percentile of ``runs``
timed calls after ``warmup`` calls), throughput at a larger batch
(images/s over the median call).
"""
import contextlib
import copy
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from torch import nn

from mmshuffle.deploy import compile_for_inference, switch_to_deploy
from mmshuffle.deploy.onnx import ClassifierForExport

#: architecture -> (torchvision builder or None, mmshuffle backbone cfg,
#: mmpretrain backbone cfg); the head's width is read from the mmshuffle
#: backbone (``out_channels``)
ARCHS = {
    'shufflenet-v2-1x': ('shufflenet_v2_x1_0',
                         dict(type='mmshuffle.ShuffleNetV2'),
                         dict(type='mmpretrain.ShuffleNetV2')),
    'mobilenet-v2-1x': ('mobilenet_v2', dict(type='mmshuffle.MobileNetV2'),
                        dict(type='mmpretrain.MobileNetV2')),
    'shufflenet-v1-1x-g3': (None, dict(type='mmshuffle.ShuffleNetV1',
                                       groups=3),
                            dict(type='mmpretrain.ShuffleNetV1', groups=3)),
}
for _arch in ('small', 'medium', 'large'):
    ARCHS[f'shufflenet-v2-plus-{_arch}'] = (
        None, dict(type='mmshuffle.ShuffleNetV2Plus', arch=_arch), None)

#: the classifier parts past the backbone of the authors' ShuffleNetV2+
#: (configs/shufflenet_v2_plus); the other archs get GAP + a linear head
V2PLUS_NECK = dict(type='mmshuffle.GlobalAveragePoolingSE', in_channels=1280)
V2PLUS_HEAD = dict(type='mmshuffle.BiasFreeClsHead', num_classes=1000,
                   in_channels=1280, mid_channels=1280,
                   act_cfg=dict(type='HSwish'), dropout_rate=0.2,
                   loss=dict(type='CrossEntropyLoss'))
#: the reference of archs without a torchvision or mmpretrain model
FALLBACK_REFERENCE = ('shufflenet-v2-1x', 'torchvision')

PATHS = ('torchvision', 'mmpretrain', 'mmshuffle', '+deploy',
         '+channels_last', '+compile', 'onnxruntime',
         'torchvision onnxruntime', 'openvino', 'onnxruntime int8',
         'openvino int8')
#: the archs with an mmpretrain model (the training comparison)
TRAIN_ARCHS = tuple(a for a, v in ARCHS.items() if v[2] is not None)
#: the paths that run an exported file in a runtime
RUNTIME_PATHS = ('onnxruntime', 'torchvision onnxruntime', 'openvino',
                 'onnxruntime int8', 'openvino int8')
#: seeded random inputs that calibrate the INT8 models' activation ranges
CALIB_INPUTS = 8


def build_classifier(backbone: dict,
                     channels: Optional[int] = None,
                     num_classes: int = 1000,
                     neck: Optional[dict] = None,
                     head: Optional[dict] = None) -> nn.Module:
    """An mmpretrain ``ImageClassifier`` (GAP + linear head) on
    ``backbone``, initialised.

    Args:
        backbone (dict): the backbone config, scope-qualified type.
        channels (int, optional): the head's input width. By default the
            backbone's last ``out_channels`` (every mmshuffle backbone
            reports it); required for backbones that do not report it, and
            checked against it for those that do.
        num_classes (int): classes of the linear head. Default: 1000.
        neck, head (dict, optional): other classifier parts than GAP and
            a linear head (ShuffleNetV2+'s SE neck and bias-free head).
    """
    from mmpretrain.models import ImageClassifier
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        module = MODELS.build(backbone)
        reported = getattr(module, 'out_channels', None)
        if reported is not None:
            if channels is not None and channels != reported[-1]:
                raise ValueError(
                    f'channels={channels!r} does not match the backbone '
                    f'{backbone["type"]}, whose last output has '
                    f'{reported[-1]} channels')
            channels = reported[-1]
        elif channels is None:
            raise TypeError(
                f'channels is required for {backbone["type"]}, which does '
                'not report its out_channels')
        model = ImageClassifier(
            backbone=module,
            neck=neck or dict(type='GlobalAveragePooling'),
            head=head or dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=channels,
                loss=dict(type='CrossEntropyLoss')))
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


def build_arch(arch: str) -> nn.Module:
    """The mmshuffle classifier of ``arch`` (a key of :data:`ARCHS`)."""
    if arch not in ARCHS:
        raise ValueError(f'unknown arch {arch!r}; choose from '
                         f'{sorted(ARCHS)}')
    backbone = ARCHS[arch][1]
    if backbone['type'] == 'mmshuffle.ShuffleNetV2Plus':
        return build_classifier(backbone, neck=V2PLUS_NECK,
                                head=V2PLUS_HEAD)
    return build_classifier(backbone)


def head_channels(classifier: nn.Module) -> int:
    """The input width of an ``ImageClassifier``'s linear head."""
    return classifier.head.fc.in_features


def timed_call(fn: Callable, x) -> Tuple[float, float]:
    """Wall time and CPU time of this process, in ms, of one ``fn(x)``
    (with one thread the two agree on an idle machine; the CPU time does
    not grow while other processes hold the cores)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(x)
    return ((time.perf_counter() - wall) * 1e3,
            (time.process_time() - cpu) * 1e3)


def median_p90(values) -> Tuple[float, float]:
    """The median and the 90th percentile of ``values``."""
    values = sorted(values)
    return (statistics.median(values),
            values[min(len(values) - 1, int(0.9 * len(values)))])


def time_calls(fn: Callable, x, runs: int, warmup: int) -> Dict:
    """Median and p90 wall time (ms) of ``fn(x)`` over ``runs`` calls."""
    for _ in range(warmup):
        fn(x)
    median, p90 = median_p90(timed_call(fn, x)[0] for _ in range(runs))
    return dict(median_ms=median, p90_ms=p90, runs=runs)


def _export_once(model: nn.Module, directory: str, name: str,
                 shape) -> str:
    from mmshuffle.deploy.onnx import export_onnx
    path = os.path.join(directory, f'{name}.onnx')
    if not os.path.exists(path):
        export_onnx(model, path, shape, dynamic_batch=True,
                    output_names=['logits'])
    return path


def _onnx_runner(model: nn.Module, directory: str, name: str,
                 shape, threads: int):
    from mmshuffle.deploy.onnx import ort_session
    path = _export_once(model, directory, name, shape)
    session = ort_session(path, threads)
    input_name = session.get_inputs()[0].name
    return lambda x: session.run(None, {input_name: x.numpy()})


def calibration_inputs(shape, count: int = CALIB_INPUTS,
                       seed: int = 0) -> List:
    """``count`` seeded random ``(1, 3, H, W)`` float32 arrays: the
    calibration of the INT8 models measured here."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, *shape, generator=gen).numpy()
            for _ in range(count)]


def quantize_once(fp32_path: str, shape) -> str:
    """The INT8 QDQ twin of ``fp32_path`` (``*_int8.onnx`` beside it),
    calibrated on :func:`calibration_inputs` of ``shape``."""
    from mmshuffle.deploy.quantize import quantize_onnx
    path = fp32_path[:-len('.onnx')] + '_int8.onnx'
    if not os.path.exists(path):
        quantize_onnx(fp32_path, path, calibration_inputs(shape))
    return path


def runtime_runner(path: str, backend: str, threads: int) -> Callable:
    """``x (torch) -> list of numpy outputs`` of ``path`` in ``backend``
    (:func:`mmshuffle.deploy.runtime.load_runtime`; OpenVINO asked for
    f32), with the runtime's ``precision`` as an attribute."""
    from mmshuffle.deploy.runtime import load_runtime
    runtime = load_runtime(path, backend=backend, threads=threads)

    def run(x):
        return runtime(x.numpy() if isinstance(x, torch.Tensor) else x)

    run.precision = runtime.precision
    run.runtime = runtime
    return run


def build_paths(arch: str, paths: Sequence[str], shape, threads: int,
                onnx_dir: str) -> Dict[str, Callable]:
    """The callables ``x -> output`` of every requested path."""
    tv_name, ours_cfg, theirs_cfg = ARCHS[arch]
    built = {}
    ours = ClassifierForExport(build_arch(arch)).eval()
    channels = head_channels(ours.classifier)
    tv = None
    if tv_name is not None:
        import torchvision
        tv = getattr(torchvision.models, tv_name)().eval()
    for path in paths:
        if path in ('torchvision', 'torchvision onnxruntime') and tv is None:
            continue
        if path == 'mmpretrain' and theirs_cfg is None:
            continue
        if path == 'torchvision':
            built[path] = tv
        elif path == 'mmpretrain':
            built[path] = ClassifierForExport(
                build_classifier(theirs_cfg, channels)).eval()
        elif path == 'mmshuffle':
            built[path] = ours
        elif path == '+deploy':
            built[path] = switch_to_deploy(copy.deepcopy(ours))
        elif path == '+channels_last':
            built[path] = switch_to_deploy(
                copy.deepcopy(ours), channels_last=True)
        elif path == '+compile':
            built[path] = compile_for_inference(
                switch_to_deploy(copy.deepcopy(ours)))
        elif path == 'onnxruntime':
            built[path] = _onnx_runner(
                copy.deepcopy(ours), onnx_dir, f'mmshuffle_{arch}', shape,
                threads)
        elif path == 'torchvision onnxruntime':
            # torchvision's model as is (it has no mmcv ConvModule to fold;
            # onnxruntime folds its BatchNorms when it optimises the graph)
            built[path] = _onnx_runner(
                copy.deepcopy(tv), onnx_dir, f'torchvision_{arch}', shape,
                threads)
        elif path in ('openvino', 'onnxruntime int8', 'openvino int8'):
            onnx_path = _export_once(copy.deepcopy(ours), onnx_dir,
                                     f'mmshuffle_{arch}', shape)
            if path.endswith('int8'):
                onnx_path = quantize_once(onnx_path, shape)
            built[path] = runtime_runner(onnx_path, path.split()[0],
                                         threads)
        else:
            raise ValueError(f'unknown path {path!r}; choose from {PATHS}')
    return built


def bench_classifiers(archs: Sequence[str] = tuple(ARCHS),
                      paths: Sequence[str] = PATHS,
                      threads: Sequence[int] = (1, ),
                      shape=(224, 224),
                      batch: int = 32,
                      runs: int = 50,
                      warmup: int = 10,
                      log: Callable = print) -> List[Dict]:
    """Measure every (arch, thread count, path).

    Returns:
        list[dict]: one row per measurement with ``arch``, ``threads``,
        ``path``, latency ``median_ms``/``p90_ms`` at batch 1,
        ``throughput`` (images/s at ``batch``), ``ratio`` (median latency
        over the reference's: torchvision eager, else mmpretrain eager),
        ``reference`` and, for ``+compile``, ``compile_s``.

    The caller's thread count and random state are as before afterwards.
    With ``+compile``, dynamo's caches are reset before each thread count
    and at the end, so nothing compiled here serves a later call (a
    function the caller compiled before recompiles on its next call).
    """
    for arch in archs:
        if arch not in ARCHS:
            raise ValueError(f'unknown arch {arch!r}; choose from '
                             f'{sorted(ARCHS)}')
    for path in paths:
        if path not in PATHS:
            raise ValueError(f'unknown path {path!r}; choose from {PATHS}')
    rows = []
    gen = torch.Generator().manual_seed(0)
    x1 = torch.randn(1, 3, *shape, generator=gen)
    xb = torch.randn(batch, 3, *shape, generator=gen)
    throughput_runs = max(3, runs // 10)
    compiles = '+compile' in paths
    previous_threads = torch.get_num_threads()
    # inductor bakes the thread count into the code it generates and its
    # on-disk cache does not key on it: compile afresh for each count
    import torch._inductor.config as inductor_config
    with tempfile.TemporaryDirectory() as onnx_dir, torch.no_grad(), \
            inductor_config.patch(fx_graph_cache=False), \
            torch.random.fork_rng(devices=[]):
        try:
            for num_threads in threads:
                torch.set_num_threads(num_threads)
                if compiles:
                    torch._dynamo.reset()
                these = []
                for arch in archs:
                    these += _bench_arch(arch, paths, shape, num_threads,
                                         onnx_dir, x1, xb, runs, warmup,
                                         throughput_runs, log)
                _fallback_ratios(these, log)
                rows += these
        finally:
            torch.set_num_threads(previous_threads)
            if compiles:
                # code compiled for the measured thread counts must not
                # serve the caller's later torch.compile calls
                torch._dynamo.reset()
    return rows


def _bench_arch(arch, paths, shape, num_threads, onnx_dir, x1, xb, runs,
                warmup, throughput_runs, log) -> List[Dict]:
    torch.manual_seed(0)
    fns = build_paths(arch, paths, shape, num_threads, onnx_dir)
    tv_name, _, theirs_cfg = ARCHS[arch]
    reference = 'torchvision' if tv_name else \
        'mmpretrain' if theirs_cfg else None
    ref_ms = None
    rows = []
    batch = xb.shape[0]
    for path, fn in fns.items():
        row = dict(arch=arch, threads=num_threads, path=path,
                   reference=reference)
        if hasattr(fn, 'precision'):
            row['precision'] = fn.precision
        if path == '+compile':
            start = time.perf_counter()
            fn(x1)
            fn(xb)
            row['compile_s'] = time.perf_counter() - start
        row.update(time_calls(fn, x1, runs, warmup))
        tput = time_calls(fn, xb, throughput_runs, max(1, warmup // 5))
        row['throughput'] = batch / tput['median_ms'] * 1e3
        row['batch'] = batch
        if path == reference:
            ref_ms = row['median_ms']
        rows.append(row)
    for row in rows:
        row['ratio'] = row['median_ms'] / ref_ms if ref_ms else None
        if reference is not None:
            log(format_row(row))
    return rows


def _fallback_ratios(rows: List[Dict], log: Callable) -> None:
    """Ratios of the archs without a torchvision or mmpretrain model (one
    thread count's rows): against :data:`FALLBACK_REFERENCE` of the same
    run, when it was measured."""
    arch, path = FALLBACK_REFERENCE
    ref = [r for r in rows if r['arch'] == arch and r['path'] == path]
    for row in rows:
        if row['reference'] is None:
            if ref:
                row['reference'] = f'{arch} {path}'
                row['ratio'] = row['median_ms'] / ref[0]['median_ms']
            log(format_row(row))


def _best_seconds(fn: Callable, runs: int) -> float:
    for _ in range(3):
        fn()
    best = float('inf')
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def sgemm_peak_gflops(threads: int = 1, size: int = 1024,
                      runs: int = 10) -> Dict[str, float]:
    """Measured fp32 matrix-multiply throughput (GFLOP/s, 2 FLOPs per
    multiply-add) with ``threads`` threads, of PyTorch's BLAS
    (``torch.mm``) and of onnxruntime's (a ``MatMul`` graph); ``peak`` is
    the higher: the best a convolution can hope for on this machine."""
    import onnx
    from mmshuffle.deploy.onnx import ort_session
    flops = 2 * size**3
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        torch_gflops = flops / _best_seconds(lambda: torch.mm(a, b),
                                             runs) / 1e9
    finally:
        torch.set_num_threads(previous)
    helper, proto = onnx.helper, onnx.TensorProto
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['A', 'B'], ['C'])], 'sgemm', [
            helper.make_tensor_value_info(n, proto.FLOAT, [size, size])
            for n in 'AB'
        ], [helper.make_tensor_value_info('C', proto.FLOAT, [size, size])])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid('', 18)])
    model.ir_version = 9
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'sgemm.onnx')
        onnx.save(model, path)
        session = ort_session(path, threads)
    feed = {'A': a.numpy(), 'B': b.numpy()}
    ort_gflops = flops / _best_seconds(lambda: session.run(None, feed),
                                       runs) / 1e9
    return dict(torch=torch_gflops, onnxruntime=ort_gflops,
                peak=max(torch_gflops, ort_gflops))



def compute_floor(arch: str, shape, gflops: float) -> Dict:
    """The compute floor of one batch-1 forward pass: its multiply-adds
    (x2 FLOPs) at ``gflops``, the measured matrix-multiply peak."""
    from .complexity import model_complexity
    mult_adds = model_complexity(build_arch(arch), tuple(shape))['flops']
    return dict(arch=arch, mult_adds=mult_adds, sgemm_gflops=gflops,
                floor_ms=2 * mult_adds / (gflops * 1e9) * 1e3)


def format_row(row: Dict) -> str:
    ratio = f'x{row["ratio"]:.2f}' if row.get('ratio') else '-'
    extra = f'  (compile {row["compile_s"]:.0f} s)' \
        if 'compile_s' in row else ''
    return (f'{row["arch"]:<20} {row["threads"]:>2} thr  '
            f'{row["path"]:<24} {row["median_ms"]:>8.2f} ms '
            f'(p90 {row["p90_ms"]:>7.2f}) {ratio:>6}  '
            f'{row["throughput"]:>8.1f} img/s{extra}')


def bench_training(archs: Sequence[str] = tuple(ARCHS),
                   batch: int = 32,
                   shape=(224, 224),
                   steps: int = 10,
                   warmup: int = 2,
                   log: Callable = print) -> List[Dict]:
    """Training-step throughput (forward, loss, backward, SGD step) of the
    mmshuffle classifier and mmpretrain's, alternating them step by step so
    that both see the same machine state.

    Returns:
        list[dict]: ``arch``, ``impl`` (mmshuffle, mmshuffle with
        ``channels_last=True`` backbones, mmpretrain), ``images_per_s``
        (batch over the median step time), ``ratio`` (over mmpretrain).
    """
    from mmpretrain.structures import DataSample
    rows = []
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, *shape, generator=gen)
    labels = torch.randint(0, 1000, (batch, ), generator=gen)
    samples = [DataSample().set_gt_label(int(lb)) for lb in labels]
    for arch in archs:
        _, ours_cfg, theirs_cfg = ARCHS[arch]
        if theirs_cfg is None:
            raise ValueError(f'arch {arch!r} has no mmpretrain model to '
                             'train against; choose from '
                             f'{sorted(TRAIN_ARCHS)}')
        ours = build_classifier(ours_cfg)
        models = {
            'mmshuffle': ours,
            'mmshuffle channels_last': build_classifier(
                dict(ours_cfg, channels_last=True)),
            'mmpretrain': build_classifier(theirs_cfg, head_channels(ours)),
        }
        for model in models.values():
            model.train()
        optims = {
            name: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
            for name, m in models.items()
        }
        times = {name: [] for name in models}
        for step in range(warmup + steps):
            for name, model in models.items():
                start = time.perf_counter()
                losses = model(images, samples, mode='loss')
                loss = sum(v for v in losses.values())
                optims[name].zero_grad()
                loss.backward()
                optims[name].step()
                if step >= warmup:
                    times[name].append(time.perf_counter() - start)
        speed = {
            name: batch / statistics.median(ts)
            for name, ts in times.items()
        }
        for name in models:
            row = dict(arch=arch, impl=name, batch=batch,
                       images_per_s=speed[name],
                       ratio=speed[name] / speed['mmpretrain'])
            rows.append(row)
            log(f'{arch:<20} train {name:<24} {speed[name]:>7.1f} img/s '
                f'x{row["ratio"]:.2f}')
    return rows


def draw_chart(rows: List[Dict], png: str, threads: int = 1) -> str:
    """A bar chart of batch-1 latency per path and architecture (one
    thread count) as PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = [r for r in rows if r['threads'] == threads]
    archs = list(dict.fromkeys(r['arch'] for r in rows))
    paths = list(dict.fromkeys(r['path'] for r in rows))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(1, len(paths))
    for j, path in enumerate(paths):
        xs, ys = [], []
        for i, arch in enumerate(archs):
            match = [r for r in rows if r['arch'] == arch
                     and r['path'] == path]
            if match:
                xs.append(i + (j - (len(paths) - 1) / 2) * width)
                ys.append(match[0]['median_ms'])
        ax.bar(xs, ys, width, label=path)
    ax.set_xticks(range(len(archs)))
    ax.set_xticklabels(archs)
    ax.set_ylabel('latency, batch 1 (ms, median)')
    ax.set_title(f'CPU inference, {threads} thread(s), fp32')
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def markdown_table(rows: List[Dict], threads: int) -> str:
    """The rows of one thread count as a Markdown table (latency, p90,
    ratio to the reference, throughput)."""
    lines = [
        '| model | path | latency ms (median) | p90 ms | ratio | '
        'img/s at batch 32 |', '|---|---|---:|---:|---:|---:|'
    ]
    for row in rows:
        if row['threads'] != threads:
            continue
        ratio = f'{row["ratio"]:.2f}x' if row.get('ratio') else '-'
        lines.append(
            f'| {row["arch"]} | {row["path"]} | {row["median_ms"]:.2f} | '
            f'{row["p90_ms"]:.2f} | {ratio} | {row["throughput"]:.0f} |')
    return '\n'.join(lines)


def _row(rows: List[Dict], arch: str, path: str, threads: int) -> Dict:
    match = [r for r in rows if r['arch'] == arch and r['path'] == path
             and r['threads'] == threads]
    if not match:
        raise ValueError(f'the run has no {path!r} row for {arch!r} at '
                         f'{threads} thread(s)')
    return match[0]


#: the PyTorch paths (the others run in onnxruntime)
TORCH_PATHS = ('mmshuffle', '+deploy', '+channels_last', '+compile')


def targets_table(data: Dict, arch: str = 'shufflenet-v2-1x',
                  threads: int = 1) -> str:
    """The targets of docs/benchmarks.md as a Markdown table, from a
    recorded ``benchmark.py cls`` run (its JSON as a dict)."""
    rows = data['results']
    best = min((_row(rows, arch, p, threads) for p in TORCH_PATHS),
               key=lambda r: r['median_ms'])
    eager_best = min((_row(rows, arch, p, threads) for p in TORCH_PATHS
                      if p != '+compile'), key=lambda r: r['median_ms'])
    ort = _row(rows, arch, 'onnxruntime', threads)
    theirs = _row(rows, arch, 'torchvision onnxruntime', threads)
    gap = ort['median_ms'] / theirs['median_ms'] - 1
    beaten = (f'beaten: {ort["median_ms"]:.2f} ms vs '
              f'{theirs["median_ms"]:.2f} ms' if gap < 0 else
              f'not beaten: {ort["median_ms"]:.2f} ms vs '
              f'{theirs["median_ms"]:.2f} ms ({gap:.0%} slower; see below)')
    lines = [
        '| target | measured |', '|---|---|',
        f'| best PyTorch path <= 0.6x torchvision eager | `{best["path"]}` '
        f'{best["median_ms"]:.2f} ms = **{best["ratio"]:.2f}x** '
        f'(`{eager_best["path"]}` without compiling: '
        f'{eager_best["ratio"]:.2f}x) |',
        f'| onnxruntime <= 0.35x torchvision eager | {ort["median_ms"]:.2f} '
        f'ms = **{ort["ratio"]:.2f}x** |',
        f'| beat onnxruntime on torchvision\'s export | {beaten} |',
    ]
    for other, label in (('mobilenet-v2-1x', 'MobileNetV2 1x'),
                         ('shufflenet-v1-1x-g3',
                          'ShuffleNetV1 1x g3 (vs mmpretrain)')):
        if not any(r['arch'] == other for r in rows):
            continue
        lines.append(
            f'| {label} | `+compile` '
            f'{_row(rows, other, "+compile", threads)["ratio"]:.2f}x, '
            'onnxruntime '
            f'{_row(rows, other, "onnxruntime", threads)["ratio"]:.2f}x |')
    return '\n'.join(lines)


def floor_section(data: Dict, threads: int = 1) -> str:
    """The compute floor of docs/benchmarks.md (the measured sgemm peaks
    and the table) as Markdown, from a recorded ``benchmark.py cls`` run."""
    sgemm = data['sgemm_gflops_1thread']
    faster = 'onnxruntime' if sgemm['onnxruntime'] >= sgemm['torch'] \
        else 'torch.mm'
    lines = [
        'The same command measures single-thread fp32 matrix '
        f'multiplication: torch.mm {sgemm["torch"]:.0f} GFLOP/s, '
        f'onnxruntime\'s MatMul {sgemm["onnxruntime"]:.0f} GFLOP/s; the '
        f'floor uses the faster ({faster}). At {sgemm["peak"]:.0f} GFLOP/s '
        'the convolution and fully-connected multiply-adds (x2 FLOPs) take:',
        '',
        '| model | mult-adds | floor | onnxruntime | onnxruntime / floor |',
        '|---|---:|---:|---:|---:|'
    ]
    for floor in data['floor']:
        ort = _row(data['results'], floor['arch'], 'onnxruntime', threads)
        lines.append(
            f'| {floor["arch"]} | {floor["mult_adds"] / 1e6:.1f} M | '
            f'{floor["floor_ms"]:.2f} ms | {ort["median_ms"]:.2f} ms | '
            f'{ort["median_ms"] / floor["floor_ms"]:.1f}x |')
    return '\n'.join(lines)


def detector_table(data: Dict) -> str:
    """The detector latencies of a recorded ``benchmark.py det`` run as a
    Markdown table: one row per model; per size, the median CPU time of
    the forward pass and its ratio to the reference's."""
    rows = data['results']
    sizes = list(dict.fromkeys(r['size'] for r in rows))
    models = list(dict.fromkeys(r['model'] for r in rows))
    head = '| model | ' + ' | '.join(f'{s}x{s} ms | ratio'
                                       for s in sizes) + ' |'
    lines = [head, '|---|' + '---:|---:|' * len(sizes)]
    for model in models:
        cells = []
        for size in sizes:
            (row, ) = [r for r in rows
                       if r['model'] == model and r['size'] == size]
            cells += [f'{row["cpu_median_ms"]:.1f}',
                      f'{row["cpu_ratio"]:.2f}']
        label = f'`{model}`'
        if row['reference']:
            label = f'mmdet\'s `{model}` (the reference)'
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def detector_ratio_range(data: Dict, lite: bool, size: int) -> str:
    """``'0.10x-0.19x'``: the smallest and largest CPU-time ratio to the
    reference of the (lite or stock) RetinaNet configs at ``size``."""
    ratios = [
        r['cpu_ratio'] for r in data['results']
        if r['size'] == size and not r['reference']
        and r['model'].startswith('retinanet') and
        r['model'].startswith('retinanet-lite') == lite
    ]
    if not ratios:
        raise ValueError(f'the run has no {"lite " if lite else ""}'
                         f'RetinaNet rows at size {size}')
    return f'{min(ratios):.2f}x-{max(ratios):.2f}x'


# ----------------------------------------------------------------------
# detectors end to end: image tensor -> final boxes, NMS included
# ----------------------------------------------------------------------
#: the paths of ``benchmark.py det``: ``forward`` is the network alone
#: (image tensor -> head outputs); the others run end to end (image
#: tensor -> final boxes: decoding, score threshold, NMS, top-K)
DET_PATHS = ('forward', 'pytorch', 'onnxruntime', 'openvino',
             'onnxruntime int8', 'openvino int8')
E2E_PATHS = DET_PATHS[1:]


def detector_predict(detector: nn.Module) -> Callable:
    """``x -> mmdet's predict path`` of ``detector`` in eager PyTorch on a
    normalised batch: the network, then the head's own post-processing
    (decoding, score threshold, mmcv's batched NMS, top-K), boxes in input
    pixels (``rescale=False``), as
    :func:`mmshuffle.deploy.detector.predict_reference` calls it."""
    from mmdet.structures import DetDataSample
    samples = {}

    def run(x):
        key = tuple(x.shape)
        if key not in samples:
            height, width = key[2:]
            samples[key] = [
                DetDataSample(metainfo=dict(
                    img_shape=(height, width), ori_shape=(height, width),
                    pad_shape=(height, width),
                    batch_input_shape=(height, width),
                    scale_factor=(1.0, 1.0))) for _ in range(key[0])
            ]
        return detector.predict(x, samples[key], rescale=False)

    return run


#: the attribute names of mmdet heads' final class-score layers
SCORE_LAYERS = ('retina_cls', 'rpn_cls', 'conv_cls', 'fc_cls')


def open_score_gate(detector: nn.Module) -> int:
    """Zero the biases of ``detector``'s final class-score layers
    (:data:`SCORE_LAYERS`), in place. A freshly initialised mmdet head
    starts its scores at the prior 0.01, below every score threshold, so
    its post-processing would see no candidate at all; with the biases at
    0 every prior scores about 0.5, and decoding and NMS work on the full
    ``nms_pre`` candidates per level: their heaviest case.

    Returns:
        int: the number of layers changed.

    Raises:
        ValueError: ``detector`` has none of these layers.
    """
    changed = 0
    with torch.no_grad():
        for name, module in detector.named_modules():
            if name.rsplit('.', 1)[-1] in SCORE_LAYERS and \
                    getattr(module, 'bias', None) is not None:
                module.bias.zero_()
                changed += 1
    if not changed:
        raise ValueError(f'{type(detector).__name__} has no class-score '
                         f'layer named one of {SCORE_LAYERS}')
    return changed


def export_detector_files(detector: nn.Module, directory: str, name: str,
                          shape, int8: bool = False) -> Dict[str, str]:
    """Export a copy of ``detector`` end to end
    (:func:`mmshuffle.deploy.detector.export_detector`: normalised input,
    dynamic H and W, batch 1) to ``directory/name.onnx`` and, with
    ``int8``, its INT8 twin (:func:`quantize_once`, calibrated at
    ``shape``). ``detector`` itself is left as it is."""
    from mmshuffle.deploy.detector import DetectorForExport, export_detector
    files = dict(fp32=os.path.join(directory, f'{name}.onnx'))
    export_detector(DetectorForExport(copy.deepcopy(detector)),
                    files['fp32'], shape=tuple(shape))
    if int8:
        files['int8'] = quantize_once(files['fp32'], shape)
    return files


def count_detections(path: str, output) -> int:
    """Detections of the first image in one call's ``output``."""
    if path == 'forward':
        return 0
    if path == 'pytorch':
        return len(output[0].pred_instances)
    return int((output[0][0, :, 4] > 0).sum())


def detector_runners(detector: nn.Module, files: Dict[str, str],
                     paths: Sequence[str], threads: int) -> Dict:
    """The callables ``x (torch) -> output`` of ``paths`` for one
    detector (runtimes loaded with ``threads`` threads)."""
    fns = {}
    for path in paths:
        if path == 'forward':
            fns[path] = detector._forward
        elif path == 'pytorch':
            fns[path] = detector_predict(detector)
        elif path in E2E_PATHS:
            backend, *int8 = path.split()
            fns[path] = runtime_runner(files['int8' if int8 else 'fp32'],
                                       backend, threads)
        else:
            raise ValueError(f'unknown path {path!r}; choose from '
                             f'{DET_PATHS}')
    return fns


def bench_detectors(models: Dict[str, nn.Module],
                    reference: str,
                    paths: Sequence[str] = ('forward', ),
                    threads: Sequence[int] = (1, ),
                    sizes: Sequence[int] = (320, 640),
                    runs: int = 10,
                    warmup: int = 2,
                    directory: Optional[str] = None,
                    log: Callable = print) -> List[Dict]:
    """Latency of every (detector, path) at every size and thread count.

    ``models`` maps names to mmdet detectors (eval mode); the
    ``reference`` one is measured on the PyTorch paths only (``forward``,
    ``pytorch``), the others on every path of ``paths``; the exports go to
    ``directory`` (a temporary one by default). Per (thread count, size)
    all callables take turns call by call after their warm-up calls, so
    that they share the machine's state. Each call is timed as wall time
    and as the CPU time of this process (all its threads, the runtimes'
    included).

    Returns:
        list[dict]: one row per (thread count, size, model, path):
        ``median_ms``/``p90_ms`` (wall), ``cpu_median_ms``/``cpu_p90_ms``,
        ``ratio``/``cpu_ratio`` against the reference's row of the same
        kind (``forward`` against its ``forward``, end-to-end paths against
        its ``pytorch``), ``eager_ratio``/``cpu_eager_ratio`` against the
        same model's ``pytorch`` row (end-to-end paths), ``detections``
        (of the first image, after the last call), ``precision`` (runtime
        paths), ``params``.

    The thread count and random state are restored afterwards.
    """
    for path in paths:
        if path not in DET_PATHS:
            raise ValueError(f'unknown path {path!r}; choose from '
                             f'{DET_PATHS}')
    if reference not in models:
        raise ValueError(f'reference {reference!r} is not one of the '
                         f'models {sorted(models)}')
    exported = [p for p in paths if p not in ('forward', 'pytorch')]
    int8 = any(p.endswith('int8') for p in exported)
    previous = torch.get_num_threads()
    rows = []
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory())
        stack.enter_context(torch.no_grad())
        stack.enter_context(torch.random.fork_rng(devices=[]))
        try:
            files = {}
            if exported:
                for name, model in models.items():
                    if name != reference:
                        log(f'exporting {name} end to end'
                            f'{" and quantizing it" if int8 else ""}')
                        files[name] = export_detector_files(
                            model, directory, name, (min(sizes), ) * 2,
                            int8)
            for num_threads in threads:
                torch.set_num_threads(num_threads)
                fns = {}
                for name, model in models.items():
                    wanted = [p for p in paths if name != reference
                              or p in ('forward', 'pytorch')]
                    for path, fn in detector_runners(
                            model, files.get(name, {}), wanted,
                            num_threads).items():
                        fns[name, path] = fn
                for size in sizes:
                    rows += _bench_det_size(models, reference, fns,
                                            num_threads, size, runs,
                                            warmup, log)
                del fns
        finally:
            torch.set_num_threads(previous)
    return rows


def _bench_det_size(models, reference, fns, num_threads, size, runs,
                    warmup, log) -> List[Dict]:
    torch.manual_seed(0)
    inputs = torch.randn(1, 3, size, size)
    outputs = {}
    for fn in fns.values():
        for _ in range(warmup):
            fn(inputs)
    times = {key: [] for key in fns}
    for _ in range(runs):
        for key, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            outputs[key] = fn(inputs)
            times[key].append(((time.perf_counter() - wall) * 1e3,
                               (time.process_time() - cpu) * 1e3))
    rows = []
    for (name, path), calls in times.items():
        wall, wall_p90 = median_p90(w for w, _ in calls)
        cpu, cpu_p90 = median_p90(c for _, c in calls)
        row = dict(model=name, path=path, threads=num_threads, size=size,
                   reference=name == reference and path in ('forward',
                                                            'pytorch'),
                   median_ms=wall, p90_ms=wall_p90, cpu_median_ms=cpu,
                   cpu_p90_ms=cpu_p90, runs=len(calls),
                   detections=count_detections(path, outputs[name, path]),
                   params=sum(p.numel() for p in models[name].parameters()))
        if hasattr(fns[name, path], 'precision'):
            row['precision'] = fns[name, path].precision
        rows.append(row)
    for row in rows:
        kind = 'forward' if row['path'] == 'forward' else 'pytorch'
        (ref, ) = [r for r in rows if r['model'] == reference
                   and r['path'] == kind] or [None]
        if ref is not None:
            row['ratio'] = row['median_ms'] / ref['median_ms']
            row['cpu_ratio'] = row['cpu_median_ms'] / ref['cpu_median_ms']
        if kind == 'pytorch':
            (eager, ) = [r for r in rows if r['model'] == row['model']
                         and r['path'] == 'pytorch'] or [None]
            if eager is not None:
                row['eager_ratio'] = row['median_ms'] / eager['median_ms']
                row['cpu_eager_ratio'] = \
                    row['cpu_median_ms'] / eager['cpu_median_ms']
        log(f'{num_threads:>2} thr {size:>5}  {row["model"]:<52} '
            f'{row["path"]:<17} wall {row["median_ms"]:>8.1f} ms  cpu '
            f'{row["cpu_median_ms"]:>8.1f} ms  '
            f'x{row.get("cpu_ratio", float("nan")):.2f} vs ref  '
            f'x{row.get("cpu_eager_ratio", float("nan")):.2f} vs eager  '
            f'{row["detections"]} dets')
    return rows


def ort_op_profile(path: str, x, threads: int = 1, runs: int = 5,
                   top: int = 8) -> Dict:
    """Where onnxruntime spends a call of ``path`` on input ``x``: its
    profiler's kernel times summed per operator type over ``runs`` calls
    (after one warm-up call).

    Returns:
        dict: ``total_ms`` (kernel time per call), ``ops``: the ``top``
        operator types by time as ``dict(op, ms, share, nodes)`` (ms per
        call, share of the kernel time, number of nodes), the rest summed
        as ``op='other'``.
    """
    from mmshuffle.deploy.onnx import ort_session
    with tempfile.TemporaryDirectory() as tmp:
        session = ort_session(path, threads, os.path.join(tmp, 'profile'))
        feed = {session.get_inputs()[0].name: np.asarray(x, np.float32)}
        session.run(None, feed)
        for _ in range(runs):
            session.run(None, feed)
        with open(session.end_profiling()) as f:
            events = json.load(f)
    # drop the warm-up call: the first 'model_run' event and what precedes
    starts = [e['ts'] for e in events if e.get('name') == 'model_run']
    after = sorted(starts)[1] if len(starts) > 1 else 0
    per_op, nodes = {}, {}
    for event in events:
        if event.get('cat') != 'Node' or event['ts'] < after or \
                not event.get('name', '').endswith('_kernel_time'):
            continue
        op = event.get('args', {}).get('op_name', '?')
        per_op[op] = per_op.get(op, 0.0) + event['dur'] / 1e3 / runs
        nodes.setdefault(op, set()).add(event['name'])
    total = sum(per_op.values())
    ranked = sorted(per_op.items(), key=lambda kv: -kv[1])
    ops = [dict(op=op, ms=ms, share=ms / total, nodes=len(nodes[op]))
           for op, ms in ranked[:top]]
    rest = ranked[top:]
    if rest:
        ms = sum(v for _, v in rest)
        ops.append(dict(op='other', ms=ms, share=ms / total,
                        nodes=sum(len(nodes[o]) for o, _ in rest)))
    return dict(total_ms=total, runs=runs, threads=threads, ops=ops)


def profile_classifier(arch: str, shape, threads: int = 1,
                       runs: int = 20) -> List[Dict]:
    """:func:`ort_op_profile` of ``arch``'s classifier as the
    ``onnxruntime`` and ``onnxruntime int8`` paths run it (batch 1)."""
    with tempfile.TemporaryDirectory() as tmp, \
            torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fp32 = _export_once(ClassifierForExport(build_arch(arch)).eval(),
                            tmp, arch, shape)
        x = calibration_inputs(shape, 1, seed=1)[0]
        return [dict(ort_op_profile(path, x, threads, runs), arch=arch,
                     path=name)
                for name, path in (('onnxruntime', fp32),
                                   ('onnxruntime int8',
                                    quantize_once(fp32, shape)))]


# ----------------------------------------------------------------------
# the runtime and end-to-end sections of docs/benchmarks.md, rendered from
# the recorded runs
# ----------------------------------------------------------------------
#: the runtime targets of docs/benchmarks.md
TARGET_FLOOR = 1.5     # best fp32 runtime / compute floor (classifier)
TARGET_INT8 = 0.6      # best INT8 / onnxruntime fp32 (classifier)
TARGET_E2E = 0.3       # best runtime / PyTorch eager (detector, e2e)


def precision_label(row: Dict) -> str:
    """What a row computed in: ``fp32``, OpenVINO's reported precision,
    or INT8 (QDQ: the quantized convolutions; the rest in float)."""
    if row['path'].endswith('int8'):
        rest = row.get('precision', 'f32')
        return f'int8 (rest {rest})'
    return row.get('precision', 'fp32')


def _verdict(value: float, target: float) -> str:
    if value <= target:
        return f'**met** ({value:.2f}x <= {target}x)'
    return (f'**missed** by {value / target - 1:.0%} ({value:.2f}x > '
            f'{target}x)')


def runtime_table(rows: List[Dict], threads: int) -> str:
    """One thread count of a classifier run with runtime paths as a
    Markdown table (latency, p90, precision, ratio, throughput)."""
    lines = [
        '| model | path | precision | latency ms (median) | p90 ms | ratio '
        '| img/s at batch 32 |', '|---|---|---|---:|---:|---:|---:|'
    ]
    for row in rows:
        if row['threads'] != threads:
            continue
        ratio = f'{row["ratio"]:.2f}x' if row.get('ratio') else '-'
        precision = precision_label(row) if row['path'] in RUNTIME_PATHS \
            else 'fp32'
        lines.append(
            f'| {row["arch"]} | {row["path"]} | {precision} | '
            f'{row["median_ms"]:.2f} | {row["p90_ms"]:.2f} | {ratio} | '
            f'{row["throughput"]:.0f} |')
    return '\n'.join(lines)


def runtime_targets_table(data: Dict, arch: str = 'shufflenet-v2-1x',
                          threads: int = 1) -> str:
    """The classifier runtime targets of docs/benchmarks.md (best fp32
    runtime against the compute floor, INT8 against onnxruntime fp32) as
    a Markdown table, from a recorded ``benchmark.py cls`` run."""
    rows = data['results']
    (floor, ) = [f for f in data['floor'] if f['arch'] == arch]
    fp32 = [_row(rows, arch, p, threads) for p in ('onnxruntime',
                                                   'openvino')]
    int8 = [_row(rows, arch, p, threads) for p in ('onnxruntime int8',
                                                   'openvino int8')]
    best = min(fp32, key=lambda r: r['median_ms'])
    best8 = min(int8, key=lambda r: r['median_ms'])
    ort = fp32[0]
    to_floor = best['median_ms'] / floor['floor_ms']
    to_ort = best8['median_ms'] / ort['median_ms']
    others = '; '.join(f'`{r["path"]}` {r["median_ms"]:.2f} ms'
                       for r in fp32 + int8 if r not in (best, best8))
    return '\n'.join([
        '| target | measured | verdict |', '|---|---|---|',
        f'| best fp32 runtime <= {TARGET_FLOOR}x the compute floor '
        f'({floor["floor_ms"]:.2f} ms) | `{best["path"]}` '
        f'({precision_label(best)}) {best["median_ms"]:.2f} ms = '
        f'{to_floor:.2f}x | {_verdict(to_floor, TARGET_FLOOR)} |',
        f'| INT8 <= {TARGET_INT8}x onnxruntime fp32 '
        f'({ort["median_ms"]:.2f} ms) | `{best8["path"]}` '
        f'{best8["median_ms"]:.2f} ms = {to_ort:.2f}x | '
        f'{_verdict(to_ort, TARGET_INT8)} |',
        f'| (the other runtime rows) | {others} | |',
    ])


def profile_table(profile: Dict) -> str:
    """An onnxruntime profile (:func:`ort_op_profile`) as a Markdown
    table: the operator types by time per call."""
    lines = ['| operator | ms per call | share | nodes |',
             '|---|---:|---:|---:|']
    for op in profile['ops']:
        lines.append(f'| {op["op"]} | {op["ms"]:.2f} | {op["share"]:.0%} | '
                     f'{op["nodes"]} |')
    lines.append(f'| all kernels | {profile["total_ms"]:.2f} | 100% | '
                 f'{sum(o["nodes"] for o in profile["ops"])} |')
    return '\n'.join(lines)


def _e2e_value(row: Dict, threads: int):
    """1 thread: CPU time (and its ratios); more: wall time."""
    if threads == 1:
        return (row['cpu_median_ms'], row.get('cpu_eager_ratio'),
                row.get('cpu_ratio'))
    return row['median_ms'], row.get('eager_ratio'), row.get('ratio')


def e2e_table(data: Dict, threads: int) -> str:
    """One thread count of a recorded end-to-end ``benchmark.py det`` run
    as a Markdown table: per size, the median time (1 thread: CPU time;
    more: wall time), its ratio to the same model's PyTorch eager row and
    to the reference's."""
    rows = [r for r in data['results']
            if r['threads'] == threads and r['path'] != 'forward']
    sizes = list(dict.fromkeys(r['size'] for r in rows))
    keys = list(dict.fromkeys((r['model'], r['path']) for r in rows))
    lines = ['| model | path | precision | ' + ' | '.join(
        f'{s}x{s} ms | vs eager | vs R18' for s in sizes) + ' |',
        '|---|---|---|' + '---:|---:|---:|' * len(sizes)]

    def fmt(value):
        return '-' if value is None else f'{value:.2f}'

    for model, path in keys:
        cells = []
        for size in sizes:
            (row, ) = [r for r in rows if r['model'] == model
                       and r['path'] == path and r['size'] == size]
            ms, eager, ref = _e2e_value(row, threads)
            cells += [f'{ms:.1f}', fmt(eager), fmt(ref)]
        label = f'mmdet\'s `{model}` (reference)' if row['reference'] \
            else f'`{model}`'
        precision = precision_label(row) if path != 'pytorch' else 'fp32'
        lines.append(f'| {label} | {path} | {precision} | '
                     + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def e2e_targets_table(data: Dict, model: str, size: int = 320) -> str:
    """The detector target of docs/benchmarks.md (``model`` at ``size``,
    1 thread: best runtime against PyTorch eager, CPU time) as Markdown,
    from a recorded end-to-end ``benchmark.py det`` run."""
    rows = [r for r in data['results'] if r['model'] == model
            and r['size'] == size and r['threads'] == 1]
    eager = [r for r in rows if r['path'] == 'pytorch']
    runtimes = [r for r in rows if r['path'] not in ('pytorch', 'forward')]
    if not eager or not runtimes:
        raise ValueError(f'the run has no 1-thread pytorch and runtime rows '
                         f'of {model!r} at {size}')
    eager = eager[0]
    best = min(runtimes, key=lambda r: r['cpu_median_ms'])
    fp32 = min((r for r in runtimes if not r['path'].endswith('int8')),
               key=lambda r: r['cpu_median_ms'])
    lines = [
        '| target | measured | verdict |', '|---|---|---|',
        f'| `{model}` at {size}x{size}, 1 thread: best runtime <= '
        f'{TARGET_E2E}x PyTorch eager ({eager["cpu_median_ms"]:.1f} ms) | '
        f'`{best["path"]}` ({precision_label(best)}) '
        f'{best["cpu_median_ms"]:.1f} ms = {best["cpu_eager_ratio"]:.2f}x | '
        f'{_verdict(best["cpu_eager_ratio"], TARGET_E2E)} |',
    ]
    if fp32 is not best:
        lines.append(
            f'| the same, fp32 only | `{fp32["path"]}` '
            f'({precision_label(fp32)}) {fp32["cpu_median_ms"]:.1f} ms = '
            f'{fp32["cpu_eager_ratio"]:.2f}x | '
            f'{_verdict(fp32["cpu_eager_ratio"], TARGET_E2E)} |')
    return '\n'.join(lines)


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'cpu'
