"""What the benchmarks run besides PyTorch: a model exported once per
run, its INT8 twin, and either as a callable in a runtime."""
import os
from typing import Callable

import torch
from torch import nn

from .timing import random_inputs

#: seeded random inputs that calibrate the INT8 twins' activation ranges
CALIB_INPUTS = 8


def export_once(model: nn.Module, directory: str, name: str,
                shape) -> str:
    """``directory/name.onnx``: ``model`` exported with a dynamic batch
    (:func:`mmshuffle.deploy.onnx.export_onnx`, output ``logits``), unless
    the file is there."""
    from mmshuffle.deploy.onnx import export_onnx
    path = os.path.join(directory, f'{name}.onnx')
    if not os.path.exists(path):
        export_onnx(model, path, shape, dynamic_batch=True,
                    output_names=['logits'])
    return path


def onnx_runner(model: nn.Module, directory: str, name: str, shape,
                threads: int) -> Callable:
    """``x (torch) -> outputs`` of ``model`` exported once
    (:func:`export_once`) and run in onnxruntime with ``threads``."""
    from mmshuffle.deploy.onnx import ort_session
    path = export_once(model, directory, name, shape)
    session = ort_session(path, threads)
    input_name = session.get_inputs()[0].name
    return lambda x: session.run(None, {input_name: x.numpy()})


def quantize_once(fp32_path: str, shape) -> str:
    """The INT8 QDQ twin of ``fp32_path`` (``*_int8.onnx`` beside it),
    calibrated on :data:`CALIB_INPUTS` seeded random inputs of ``shape``
    (:func:`~.timing.random_inputs`: they set the activation ranges only,
    which speed does not depend on)."""
    from mmshuffle.deploy.quantize import quantize_onnx
    path = fp32_path[:-len('.onnx')] + '_int8.onnx'
    if not os.path.exists(path):
        quantize_onnx(fp32_path, path, random_inputs(shape, CALIB_INPUTS))
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
