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
* ``torchvision onnxruntime``: torchvision's model exported the same way.

Latency is measured at batch 1 (median and 90th percentile of ``runs``
timed calls after ``warmup`` calls), throughput at a larger batch
(images/s over the median call).
"""
import copy
import logging
import os
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

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

PATHS = ('torchvision', 'mmpretrain', 'mmshuffle', '+deploy',
         '+channels_last', '+compile', 'onnxruntime',
         'torchvision onnxruntime')


def build_classifier(backbone: dict,
                     channels: Optional[int] = None,
                     num_classes: int = 1000) -> nn.Module:
    """An mmpretrain ``ImageClassifier`` (GAP + linear head) on
    ``backbone``, initialised.

    Args:
        backbone (dict): the backbone config, scope-qualified type.
        channels (int, optional): the head's input width. By default the
            backbone's last ``out_channels`` (every mmshuffle backbone
            reports it); required for backbones that do not report it, and
            checked against it for those that do.
        num_classes (int): classes of the linear head. Default: 1000.
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
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
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


def _onnx_runner(model: nn.Module, directory: str, name: str,
                 shape, threads: int):
    from mmshuffle.deploy.onnx import export_onnx, ort_session
    path = os.path.join(directory, f'{name}.onnx')
    if not os.path.exists(path):
        export_onnx(model, path, shape, dynamic_batch=True,
                    output_names=['logits'])
    session = ort_session(path, threads)
    input_name = session.get_inputs()[0].name
    return lambda x: session.run(None, {input_name: x.numpy()})


def build_paths(arch: str, paths: Sequence[str], shape, threads: int,
                onnx_dir: str) -> Dict[str, Callable]:
    """The callables ``x -> output`` of every requested path."""
    tv_name, ours_cfg, theirs_cfg = ARCHS[arch]
    built = {}
    ours = ClassifierForExport(build_classifier(ours_cfg)).eval()
    channels = head_channels(ours.classifier)
    tv = None
    if tv_name is not None:
        import torchvision
        tv = getattr(torchvision.models, tv_name)().eval()
    for path in paths:
        if path in ('torchvision', 'torchvision onnxruntime') and tv is None:
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
                for arch in archs:
                    rows += _bench_arch(arch, paths, shape, num_threads,
                                        onnx_dir, x1, xb, runs, warmup,
                                        throughput_runs, log)
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
    reference = 'torchvision' if 'torchvision' in fns else 'mmpretrain'
    ref_ms = None
    rows = []
    batch = xb.shape[0]
    for path, fn in fns.items():
        row = dict(arch=arch, threads=num_threads, path=path,
                   reference=reference)
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
        log(format_row(row))
    return rows


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
    _, ours_cfg, _ = ARCHS[arch]
    mult_adds = model_complexity(
        build_classifier(ours_cfg), tuple(shape))['flops']
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
