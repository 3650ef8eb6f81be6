"""Timing primitives and the machine they run on: timed calls, medians,
the fp32 matrix-multiply peak, seeded random inputs and the CPU's name."""
import os
import platform
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Tuple


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


def best_seconds(fn: Callable, runs: int) -> float:
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
    import torch

    from mmshuffle.deploy.onnx import ort_session
    flops = 2 * size**3
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        torch_gflops = flops / best_seconds(lambda: torch.mm(a, b),
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
    ort_gflops = flops / best_seconds(lambda: session.run(None, feed),
                                       runs) / 1e9
    return dict(torch=torch_gflops, onnxruntime=ort_gflops,
                peak=max(torch_gflops, ort_gflops))


def random_inputs(shape, count: int, seed: int = 0) -> List:
    """``count`` seeded random ``(1, 3, H, W)`` float32 arrays of
    ``shape`` (H, W): inputs whose values do not matter, only their size
    (timing, and the INT8 twins' calibration, which speed does not depend
    on)."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, *shape, generator=gen).numpy()
            for _ in range(count)]


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


def machine() -> Dict:
    """The versions and the CPU a benchmark ran with (its JSON's
    ``machine``)."""
    import onnxruntime
    import torch
    try:
        import openvino
        openvino_version = openvino.__version__
    except ImportError:
        openvino_version = None
    return dict(
        torch=torch.__version__,
        onnxruntime=onnxruntime.__version__,
        openvino=openvino_version,
        cpu=cpu_name(),
        cores=os.cpu_count(),
        python=platform.python_version())
