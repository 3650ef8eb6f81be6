"""Side-by-side CPU latency of detectors: the network alone, and end to
end (image tensor -> final boxes, NMS included) in PyTorch and in the
runtimes, fp32 and INT8."""
import contextlib
import copy
import os
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import nn

from .runners import CALIB_INPUTS, quantize_once, runtime_runner
from .timing import median_p90, random_inputs


#: the paths of ``benchmark.py det``: ``forward`` is the network alone
#: (image tensor -> head outputs); the others run end to end (image
#: tensor -> final boxes: decoding, score threshold, NMS, top-K)
DET_PATHS = ('forward', 'pytorch', 'onnxruntime', 'openvino',
             'onnxruntime int8', 'openvino int8', 'executorch',
             'executorch int8', 'ncnn')
#: the paths whose files have NMS on the host (single-stage detectors only)
HOST_PATHS = ('executorch', 'executorch int8', 'ncnn')
E2E_PATHS = DET_PATHS[1:]


def detector_predict(detector: nn.Module) -> Callable:
    """``x -> mmdet's predict path`` of ``detector`` in eager PyTorch on a
    normalised batch: the network, then the head's own post-processing
    (decoding, score threshold, mmcv's batched NMS, top-K), boxes in input
    pixels, as :func:`mmshuffle.deploy.detection.predict_reference` calls
    it (:func:`~mmshuffle.deploy.detection.input_pixel_samples`, made once
    per input shape)."""
    from mmshuffle.deploy.detection import input_pixel_samples
    samples = {}

    def run(x):
        key = tuple(x.shape)
        if key not in samples:
            samples[key] = input_pixel_samples(key)
        return detector.predict(x, samples[key], rescale=False)

    return run


def detector_forward(detector: nn.Module) -> Callable:
    """``x -> the network's outputs`` of ``detector``: mmdet's tensor
    mode (``_forward``), the heads' raw outputs. A two-stage detector's
    network includes its proposals (the RPN's decoding and NMS) and the
    R-CNN head on them: its outputs are the RoIs' scores and deltas, before
    their decoding and NMS."""
    if not hasattr(detector, 'rpn_head'):
        return detector._forward
    from mmshuffle.deploy.detection import input_pixel_samples
    samples = {}

    def run(x):
        key = tuple(x.shape)
        if key not in samples:
            samples[key] = input_pixel_samples(key)
        return detector._forward(x, samples[key])

    return run


def zero_score_threshold(detector: nn.Module) -> int:
    """Set every ``score_thr`` of ``detector``'s test settings to 0, in
    place: the dense head's (single-stage) or the R-CNN head's
    (two-stage), and turn the same settings' ``min_bbox_size`` filter off.
    Sigmoid and softmax scores are above 0, so every candidate then clears
    the threshold and decoding and NMS work on the full ``nms_pre``
    candidates per level: their heaviest case, whatever the weights (a
    freshly initialised head scores every prior under the usual
    thresholds, and its random box regression can make every box
    degenerate, x2 < x1, which the size filter would drop before NMS).
    Exported files read these settings when exported: call this first.

    Returns:
        int: the number of test settings changed.

    Raises:
        ValueError: ``detector`` has no test setting with a ``score_thr``.
    """
    changed = 0
    for head in (getattr(detector, 'bbox_head', None),
                 getattr(detector, 'roi_head', None)):
        cfg = getattr(head, 'test_cfg', None)
        if cfg is not None and 'score_thr' in cfg:
            cfg['score_thr'] = 0.0
            if 'min_bbox_size' in cfg:
                cfg['min_bbox_size'] = -1
            changed += 1
    if not changed:
        raise ValueError(f'{type(detector).__name__} has no bbox_head or '
                         'roi_head test_cfg with a score_thr')
    return changed


def export_detector_files(detector: nn.Module, directory: str, name: str,
                          shape, int8: bool = False,
                          sizes: Sequence[int] = (),
                          mobile: Sequence[str] = ()) -> Dict:
    """Export a copy of ``detector`` end to end
    (:func:`mmshuffle.deploy.detection.export_detector`: normalised input,
    dynamic H and W, batch 1) to ``directory/name.onnx`` and, with
    ``int8``, its INT8 twin (:func:`quantize_once`, calibrated at
    ``shape``); ``mobile`` (paths of :data:`HOST_PATHS`): its ExecuTorch
    programs (NMS on the host), fp32 for H and W up to the largest of
    ``sizes``, INT8 one per size (an INT8 program has one size),
    calibrated on seeded random inputs, and its ncnn model (decoding and
    NMS on the host). ``detector`` itself is left as it is."""
    from mmshuffle.deploy.detection import DetectorForExport, export_detector
    files = dict(fp32=os.path.join(directory, f'{name}.onnx'))
    export_detector(DetectorForExport(copy.deepcopy(detector)),
                    files['fp32'], shape=tuple(shape))
    if int8:
        files['int8'] = quantize_once(files['fp32'], shape)
    from mmshuffle.deploy.detection import UnsupportedDetectorError
    from mmshuffle.deploy.detection.export import (export_detector_ncnn,
                                                   export_detector_pte)
    if mobile:
        try:  # two-stage detectors have no program with host NMS
            DetectorForExport(copy.deepcopy(detector), nms='host')
        except UnsupportedDetectorError as err:
            files['unsupported'] = str(err)
            return files
    if 'ncnn' in mobile:
        files['ncnn'] = os.path.join(directory, f'{name}.param')
        export_detector_ncnn(  # at the largest size: a graph pnnx fixed
            DetectorForExport(copy.deepcopy(detector), nms='host',
                              decode='host'), files['ncnn'],
            (max(sizes), ) * 2)  # to one size pads the smaller ones
    if 'executorch' in mobile:
        files['executorch'] = os.path.join(directory, f'{name}.pte')
        export_detector_pte(
            DetectorForExport(copy.deepcopy(detector), nms='host'),
            files['executorch'], (max(sizes), ) * 2)
    if 'executorch int8' in mobile:
        files['executorch int8'] = {}
        for size in sizes:
            path = os.path.join(directory, f'{name}_int8_{size}.pte')
            export_detector_pte(
                DetectorForExport(copy.deepcopy(detector), nms='host'), path,
                (size, size),
                calibration=random_inputs((size, size), CALIB_INPUTS))
            files['executorch int8'][size] = path
    return files


def host_runner(paths, threads: int, backend: str = 'executorch'
                ) -> Callable:
    """``x (torch) -> (dets, labels)`` of ExecuTorch detector programs or
    an ncnn model (what runs on the host included): one ``path``, or
    ``{size: path}`` (INT8 ExecuTorch, one program per input size)."""
    from mmshuffle.deploy.runtime import DetectionSession, load_runtime
    sessions = {size: DetectionSession(load_runtime(path, backend, threads))
                for size, path in (paths.items() if isinstance(paths, dict)
                                   else [(None, paths)])}

    def run(x):
        session = sessions.get(x.shape[-1], sessions.get(None))
        return session(x.numpy())

    first = next(iter(sessions.values()))
    run.precision = first.runtime.precision
    run.threads = first.runtime.threads  # ExecuTorch: the process's pool
    return run


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
            fns[path] = detector_forward(detector)
        elif path == 'pytorch':
            fns[path] = detector_predict(detector)
        elif path in HOST_PATHS:
            fns[path] = host_runner(files[path], threads, path.split()[0])
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
    int8 = any(p.endswith('int8') and p not in HOST_PATHS
               for p in exported)
    mobile = [p for p in exported if p in HOST_PATHS]
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
                            int8, sizes, mobile)
                        if 'unsupported' in files[name]:
                            log(f'{name}: no ExecuTorch or ncnn file: '
                                f'{files[name]["unsupported"]}')
            for num_threads in threads:
                torch.set_num_threads(num_threads)
                fns = {}
                for name, model in models.items():
                    wanted = [p for p in paths if name != reference
                              or p in ('forward', 'pytorch')]
                    if 'unsupported' in files.get(name, {}):
                        wanted = [p for p in wanted if p not in HOST_PATHS]
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
        if getattr(fns[name, path], 'threads', num_threads) != num_threads:
            row['runtime_threads'] = fns[name, path].threads
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
        if row['path'] != 'forward' and not row['detections']:
            log(f'{row["model"]} {row["path"]}: no detections: its NMS had '
                'no candidate to work on, so this time is not its '
                'end-to-end cost')
    return rows
