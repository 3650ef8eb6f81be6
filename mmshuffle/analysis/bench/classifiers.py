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
  min-max on :data:`~.runners.CALIB_INPUTS` seeded random inputs, which
  set the ranges only: speed does not depend on them), run in each
  runtime;
* ``executorch`` / ``executorch int8``: the deploy form as an ExecuTorch
  program with the XNNPACK delegate (batch 1: a batch runs image by image),
  fp32 and INT8 (PT2E, XNNPACK's quantizer, per-channel symmetric int8
  weights, calibrated on the same seeded random inputs);
* ``ncnn``: the deploy form converted by pnnx to an ncnn model, fp32
  storage and arithmetic (batch 1: a batch runs image by image).

ShuffleNetV2+ (the authors' classifier: SE pooling neck, bias-free head)
has neither a torchvision nor an mmpretrain model: its ratio is against
ShuffleNetV2 1x torchvision eager of the same run and thread count.

Latency is measured at batch 1 (median and 90th percentile of ``runs``
timed calls after ``warmup`` calls), throughput at a larger batch
(images/s over the median call).
"""
import copy
import tempfile
import os
import time
from typing import Callable, Dict, List, Sequence

import torch
from torch import nn

from mmshuffle.deploy import compile_for_inference, switch_to_deploy
from mmshuffle.deploy.onnx import ClassifierForExport
from mmshuffle.models.classifier import build_classifier, head_channels

from .runners import (CALIB_INPUTS, export_once, onnx_runner, quantize_once,
                      runtime_runner)
from .timing import random_inputs, time_calls

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
         'openvino int8', 'executorch', 'executorch int8', 'ncnn')
#: the archs with an mmpretrain model (the training comparison)
TRAIN_ARCHS = tuple(a for a, v in ARCHS.items() if v[2] is not None)
#: the paths that run an exported file in a runtime
RUNTIME_PATHS = ('onnxruntime', 'torchvision onnxruntime', 'openvino',
                 'onnxruntime int8', 'openvino int8', 'executorch',
                 'executorch int8', 'ncnn')


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


def build_paths(arch: str, paths: Sequence[str], shape, threads: int,
                onnx_dir: str, log: Callable = print
                ) -> Dict[str, Callable]:
    """The callables ``x -> output`` of every requested path; a phone
    runtime that refuses the model (an operator it lacks) gets no callable
    and a logged reason."""
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
            built[path] = onnx_runner(
                copy.deepcopy(ours), onnx_dir, f'mmshuffle_{arch}', shape,
                threads)
        elif path == 'torchvision onnxruntime':
            # torchvision's model as is (it has no mmcv ConvModule to fold;
            # onnxruntime folds its BatchNorms when it optimises the graph)
            built[path] = onnx_runner(
                copy.deepcopy(tv), onnx_dir, f'torchvision_{arch}', shape,
                threads)
        elif path in ('openvino', 'onnxruntime int8', 'openvino int8'):
            onnx_path = export_once(copy.deepcopy(ours), onnx_dir,
                                     f'mmshuffle_{arch}', shape)
            if path.endswith('int8'):
                onnx_path = quantize_once(onnx_path, shape)
            built[path] = runtime_runner(onnx_path, path.split()[0],
                                         threads)
        elif path in ('executorch', 'executorch int8', 'ncnn'):
            try:
                built[path] = mobile_runner(
                    copy.deepcopy(ours), onnx_dir, f'mmshuffle_{arch}',
                    shape, threads, path.split()[0], path.endswith('int8'))
            except ValueError as err:  # the runtime's export error
                log(f'{arch}: no {path} row: {err}')
        else:
            raise ValueError(f'unknown path {path!r}; choose from {PATHS}')
    return built


def mobile_runner(model: nn.Module, directory: str, name: str, shape,
                  threads: int, backend: str = 'executorch',
                  int8: bool = False) -> Callable:
    """``x (torch, N x 3 x H x W) -> logits`` of ``model`` exported once
    as an ExecuTorch program (fp32, or INT8 calibrated on
    :data:`~.runners.CALIB_INPUTS` seeded random inputs) or an ncnn model
    (fp32); batch 1, run image by image."""
    from mmshuffle.deploy.runtime import ClassificationSession, load_runtime
    ext = '.pte' if backend == 'executorch' else '.param'
    path = os.path.join(directory, f'{name}{"_int8" if int8 else ""}{ext}')
    if not os.path.exists(path) and backend == 'executorch':
        from mmshuffle.deploy.executorch import export_module_pte
        export_module_pte(model, path, shape, model.metadata(), ['logits'],
                          random_inputs(shape, CALIB_INPUTS) if int8
                          else None)
    elif not os.path.exists(path):
        from mmshuffle.deploy.ncnn import export_module_ncnn
        export_module_ncnn(model, path, shape, model.metadata(), ['logits'])
    session = ClassificationSession(load_runtime(path, backend, threads))

    def run(x):
        return session(x.numpy())

    run.precision = session.runtime.precision
    run.threads = session.runtime.threads  # ExecuTorch: the process's pool
    return run


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
    fns = build_paths(arch, paths, shape, num_threads, onnx_dir, log)
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
        if getattr(fn, 'threads', num_threads) != num_threads:
            row['runtime_threads'] = fn.threads
        if path == '+compile':
            start = time.perf_counter()
            fn(x1)
            fn(xb)
            row['compile_s'] = time.perf_counter() - start
        try:
            row.update(time_calls(fn, x1, runs, warmup))
            tput = time_calls(fn, xb, throughput_runs, max(1, warmup // 5))
        except RuntimeError as err:  # a runtime that fails on the model
            detail = ' '.join(str(err).split())[:300]
            log(f'{arch}: no {path} row at {num_threads} thread(s): the '
                f'runtime failed ({detail})')
            continue
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


def compute_floor(arch: str, shape, gflops: float) -> Dict:
    """The compute floor of one batch-1 forward pass: its multiply-adds
    (x2 FLOPs) at ``gflops``, the measured matrix-multiply peak."""
    from ..complexity import model_complexity
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
