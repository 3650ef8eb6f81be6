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
from typing import Callable, Dict, List, Sequence

import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from torch import nn

from mmshuffle.deploy import compile_for_inference, switch_to_deploy

#: architecture -> (torchvision builder or None, mmshuffle backbone cfg,
#: mmpretrain backbone cfg, head in_channels)
ARCHS = {
    'shufflenet-v2-1x': ('shufflenet_v2_x1_0',
                         dict(type='mmshuffle.ShuffleNetV2'),
                         dict(type='mmpretrain.ShuffleNetV2'), 1024),
    'mobilenet-v2-1x': ('mobilenet_v2', dict(type='mmshuffle.MobileNetV2'),
                        dict(type='mmpretrain.MobileNetV2'), 1280),
    'shufflenet-v1-1x-g3': (None, dict(type='mmshuffle.ShuffleNetV1',
                                       groups=3),
                            dict(type='mmpretrain.ShuffleNetV1',
                                 groups=3), 960),
}

PATHS = ('torchvision', 'mmpretrain', 'mmshuffle', '+deploy',
         '+channels_last', '+compile', 'onnxruntime',
         'torchvision onnxruntime')


class TensorClassifier(nn.Module):
    """``ImageClassifier`` called as ``tensor -> logits``."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x, mode='tensor')


def build_classifier(backbone: dict, channels: int,
                     num_classes: int = 1000) -> nn.Module:
    """An mmpretrain ``ImageClassifier`` (GAP + linear head)."""
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=backbone,
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead',
                    num_classes=num_classes,
                    in_channels=channels,
                    loss=dict(type='CrossEntropyLoss'))))
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


def time_calls(fn: Callable, x, runs: int, warmup: int) -> Dict:
    """Median and p90 wall time (ms) of ``fn(x)`` over ``runs`` calls."""
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return dict(
        median_ms=statistics.median(times),
        p90_ms=times[min(len(times) - 1, int(0.9 * len(times)))],
        runs=runs)


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
    tv_name, ours_cfg, theirs_cfg, channels = ARCHS[arch]
    built = {}
    ours = TensorClassifier(build_classifier(ours_cfg, channels)).eval()
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
            built[path] = TensorClassifier(
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
            built[path] = _onnx_runner(
                _TorchvisionForExport(tv), onnx_dir, f'torchvision_{arch}',
                shape, threads)
        else:
            raise ValueError(f'unknown path {path!r}; choose from {PATHS}')
    return built


class _TorchvisionForExport(nn.Module):
    """torchvision's model as is (no BatchNorm folding; onnxruntime folds
    it when it optimises the graph)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


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
    # inductor bakes the thread count into the code it generates and its
    # on-disk cache does not key on it: compile afresh for each count
    import torch._inductor.config as inductor_config
    with tempfile.TemporaryDirectory() as onnx_dir, torch.no_grad(), \
            inductor_config.patch(fx_graph_cache=False):
        for num_threads in threads:
            torch.set_num_threads(num_threads)
            torch._dynamo.reset()
            for arch in archs:
                torch.manual_seed(0)
                fns = build_paths(arch, paths, shape, num_threads, onnx_dir)
                reference = 'torchvision' if 'torchvision' in fns \
                    else 'mmpretrain'
                ref_ms = None
                for path, fn in fns.items():
                    row = dict(arch=arch, threads=num_threads, path=path,
                               reference=reference)
                    if path == '+compile':
                        start = time.perf_counter()
                        fn(x1)
                        fn(xb)
                        row['compile_s'] = time.perf_counter() - start
                    row.update(time_calls(fn, x1, runs, warmup))
                    tput = time_calls(fn, xb, throughput_runs,
                                      max(1, warmup // 5))
                    row['throughput'] = batch / tput['median_ms'] * 1e3
                    row['batch'] = batch
                    if path == reference:
                        ref_ms = row['median_ms']
                    rows.append(row)
                for row in rows:
                    if row['arch'] == arch and \
                            row['threads'] == num_threads:
                        row['ratio'] = row['median_ms'] / ref_ms \
                            if ref_ms else None
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
    _, ours_cfg, _, channels = ARCHS[arch]
    mult_adds = model_complexity(
        build_classifier(ours_cfg, channels), tuple(shape))['flops']
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
        _, ours_cfg, theirs_cfg, channels = ARCHS[arch]
        models = {
            'mmshuffle': build_classifier(ours_cfg, channels),
            'mmshuffle channels_last': build_classifier(
                dict(ours_cfg, channels_last=True), channels),
            'mmpretrain': build_classifier(theirs_cfg, channels),
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
