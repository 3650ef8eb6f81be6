"""ExecuTorch programs (``.pte``, XNNPACK delegate): fp32 and INT8.

ExecuTorch is PyTorch's on-device runtime (Android, iOS, embedded Linux);
XNNPACK is the CPU library it delegates convolutions, linear layers and
element-wise maths to. :func:`write_pte` turns a module into a program:
``torch.export`` at a fixed input size, XNNPACK partitioning
(``to_edge_transform_and_lower``), then the program file, written
atomically. The mmshuffle metadata (:mod:`mmshuffle.deploy.metadata`)
travels inside it as a constant method :data:`META_METHOD` returning one
JSON string, so that the file describes itself as ONNX files do.

INT8 is PT2E post-training quantization with XNNPACK's quantizer:
per-channel symmetric int8 weights, per-tensor int8 activations, ranges
calibrated on real images through the config's *test* pipeline
(:func:`mmshuffle.deploy.quantize.calibration_images`). Only the network is
quantized (``quantize`` names the submodule); a detector's box decoding,
top-K and score threshold stay in float, as its boxes need.

A detector's program stops before NMS: ExecuTorch has no NMS kernel, so the
program ends with the candidates and :func:`.detection.host.host_nms`
(numpy) finishes them on the host (:class:`~.detection.DetectorForExport`
with ``nms='host'``).
"""
import contextlib
import json
import os
import os.path as osp
import sys
import weakref
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

#: the constant method of a program that returns its metadata (JSON)
META_METHOD = 'mmshuffle_metadata'
#: the pip requirement ExecuTorch is tested with here
PIP_NAME = 'executorch==1.5.1'


class ExecuTorchExportError(ValueError):
    """A module ExecuTorch (or XNNPACK) cannot take."""


def require_executorch():
    """The ``executorch`` package, or an ``ImportError`` naming the pip
    package to install."""
    try:
        import executorch
        import executorch.exir  # noqa: F401
    except ImportError as err:
        raise ImportError(
            'the executorch format/backend needs the executorch package; '
            f'install it with `pip install {PIP_NAME}`') from err
    return executorch


def _one_line(err: BaseException, limit: int = 300) -> str:
    text = ' '.join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[:limit] + '...'


def quantize_submodule(owner: nn.Module, name: str, example: torch.Tensor,
                       dynamic_shapes, calibrate: Callable[[], None]) -> None:
    """Quantize ``owner.<name>`` in place by PT2E for XNNPACK (see the
    module docstring): it is captured at ``example``'s size (with
    ``dynamic_shapes`` for its one input), its observers are put in place,
    ``calibrate()`` runs ``owner`` on the calibration images, and the
    observed ranges become int8 quantize/dequantize pairs."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import (convert_pt2e,
                                                         prepare_pt2e)
    quantizer = XNNPACKQuantizer()
    quantizer.set_global(get_symmetric_quantization_config(
        is_per_channel=True))
    module = getattr(owner, name)
    graph = torch.export.export(
        module, (example, ), dynamic_shapes=(dynamic_shapes, ),
        strict=False).module()
    prepared = prepare_pt2e(unshare_weights(graph), quantizer)
    setattr(owner, name, prepared)
    calibrate()
    setattr(owner, name, convert_pt2e(prepared))


def unshare_weights(graph_module: nn.Module) -> nn.Module:
    """Give every convolution or linear layer of a captured graph its own
    copy of the weights and bias that several calls share (a detector
    head's convolutions run on every level). PT2E quantizes a shared
    weight for its first call only; the others keep a float weight on an
    int8 input, which XNNPACK refuses at load time ("Failed to create
    depthwise convolution node ... invalid_parameter")."""
    graph = graph_module.graph
    layers = (torch.ops.aten.conv2d.default, torch.ops.aten.linear.default,
              torch.ops.aten.convolution.default)
    count = 0
    for node in list(graph.nodes):
        if node.op != 'get_attr':
            continue
        users = [u for u in node.users if u.op == 'call_function'
                 and u.target in layers]
        for user in users[1:]:
            value = _get_attr(graph_module, node.target)
            count += 1
            name = f'_unshared_{count}'
            graph_module.register_buffer(name, value.detach().clone())
            with graph.inserting_before(user):
                copy = graph.get_attr(name)
                copy.meta = dict(node.meta)
            user.replace_input_with(node, copy)
    if count:
        graph.lint()
        graph_module.recompile()
    return graph_module


def _get_attr(module: nn.Module, target: str):
    for part in target.split('.'):
        module = getattr(module, part)
    return module


def write_pte(module: nn.Module, examples: Tuple[torch.Tensor, ...],
              path: str, metadata: Dict[str, str], where: str,
              dynamic_shapes=None) -> str:
    """Export ``module`` (eval mode) at the sizes of ``examples`` (within
    ``dynamic_shapes``, whose upper bounds plan the program's memory) to
    the ExecuTorch program ``path`` with the XNNPACK delegate and
    ``metadata`` (:data:`META_METHOD`). ``where`` names the model in
    errors.

    Raises:
        ExecuTorchExportError: ``torch.export`` or the lowering refuses the
            module (one line naming ``where``, the stage and the reason).
    """
    require_executorch()
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import \
        XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    if not path.endswith('.pte'):
        raise ValueError(f'an ExecuTorch program is a .pte file, got '
                         f'{path!r}')
    meta = dict(metadata, runtime='executorch')
    try:
        program = torch.export.export(module, examples,
                                      dynamic_shapes=dynamic_shapes,
                                      strict=False)
    except Exception as err:  # noqa: BLE001  (one line, not a traceback)
        raise ExecuTorchExportError(
            f'{where}: torch.export cannot capture it for ExecuTorch: '
            f'{_one_line(err)}') from None
    try:
        edge = to_edge_transform_and_lower(
            program, partitioner=[XnnpackPartitioner()],
            constant_methods={META_METHOD: json.dumps(meta)})
        buffer = edge.to_executorch().buffer
    except Exception as err:  # noqa: BLE001
        raise ExecuTorchExportError(
            f'{where}: ExecuTorch (XNNPACK) cannot lower it: '
            f'{_one_line(err)}') from None
    from .standalone import write_atomically
    write_atomically(buffer, path)
    return path


def export_module_pte(wrapped: nn.Module, path: str, shape: Sequence[int],
                      metadata: Dict[str, str], output_names: Sequence[str],
                      calibration: Optional[Sequence[np.ndarray]] = None
                      ) -> str:
    """Export a classifier or backbone wrapper (:mod:`.onnx`'s
    ``ClassifierForExport``, ``BackboneForExport``) to the ExecuTorch
    program ``path`` at the fixed input size (1, 3, *shape*), in its deploy
    form (BatchNorm folded). With ``calibration`` (input arrays of that
    size, one image each) the whole network is quantized to INT8 (PT2E,
    XNNPACK's quantizer)."""
    from .fuse import switch_to_deploy
    from .onnx import check_shape
    shape = check_shape(shape)
    switch_to_deploy(wrapped)
    wrapped.eval()
    example = torch.rand(1, 3, *shape)
    meta = dict(metadata, input_names='["input"]',
                output_names=json.dumps(list(output_names)),
                input_hw=json.dumps(list(shape)))
    holder = nn.Sequential(wrapped)
    if calibration is not None:
        if not len(calibration):
            raise ValueError('INT8 needs at least one calibration image')

        def calibrate():
            with torch.no_grad():
                for array in calibration:
                    holder(torch.from_numpy(np.ascontiguousarray(array)))

        quantize_submodule(holder, '0', example, None, calibrate)
        meta.update(precision='int8',
                    calibration_images=str(len(calibration)))
    with torch.no_grad():
        return write_pte(holder, (example, ), path, meta,
                         type(wrapped).__name__)


def pad_input(array: np.ndarray, shape: Sequence[int], spec) -> np.ndarray:
    """A graph input ``array`` (N, C, H, W) padded at the bottom and right
    to ``shape`` (H, W) with the padding the data preprocessor uses (its
    ``pad_value`` after normalisation, through ``spec``, an
    :class:`~.metadata.InputSpec`, for a raw-input graph)."""
    height, width = array.shape[2:]
    if height > shape[0] or width > shape[1]:
        raise ValueError(
            f'a {height}x{width} input does not fit the program, exported '
            f'for {shape[0]}x{shape[1]}: export it with --shape covering '
            'the inputs')
    if (height, width) == tuple(shape):
        return array
    out = spec.to_graph(np.full((*array.shape[:2], *shape), spec.pad_value,
                                np.float32))
    out[:, :, :height, :width] = array
    return out


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what the runtime's C++ side prints to file descriptor 2
    while it starts (its CPU probing and threadpool notes); Python's
    exceptions are unaffected."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _runtime():
    require_executorch()
    with _quiet_native_stderr():
        from executorch.runtime import Runtime
        return Runtime.get()


#: the programs alive in this process (they hold the threadpool)
_LIVE = weakref.WeakSet()


def set_threads(threads: int) -> int:
    """Size ExecuTorch's XNNPACK threadpool, one per process, to
    ``threads`` while no program is loaded (resizing it under a loaded
    program crashes the process); the size it has."""
    import executorch.extension.pybindings.portable_lib as lib
    with _quiet_native_stderr():
        current = lib._threadpool_get_thread_count()
        if current != threads and not len(_LIVE):
            lib._unsafe_reset_threadpool(threads)
            current = lib._threadpool_get_thread_count()
    return current


class PteProgram:
    """A loaded ``.pte``: ``forward`` on numpy arrays.

    Attributes:
        metadata (dict): the program's mmshuffle metadata ({} without).
        input_shapes (list[list[int]]), num_outputs (int)
        threads (int): the threads it runs on: ExecuTorch has one pool
            per process, sized by the first program loaded while no other
            lives.
    """

    def __init__(self, path: str, threads: int = 1):
        runtime = _runtime()
        # the pool is the process's: a program loaded while another lives
        # runs on the pool that one has
        self.threads = set_threads(threads)
        try:
            program = runtime.load_program(path)
        except Exception as err:  # noqa: BLE001
            raise ValueError(f'ExecuTorch cannot load {path!r}: '
                             f'{_one_line(err)}') from None
        self.metadata = {}
        if META_METHOD in program.method_names:
            self.metadata = json.loads(
                program.load_method(META_METHOD).execute([])[0])
        if 'forward' not in program.method_names:
            raise ValueError(f'{path!r} has no forward method')
        try:
            self._method = program.load_method('forward')
        except Exception as err:  # noqa: BLE001
            raise ValueError(f'ExecuTorch cannot load the forward method '
                             f'of {path!r}: {_one_line(err)}') from None
        self._program = program
        _LIVE.add(self)
        meta = self._method.metadata
        self.input_shapes = [list(meta.input_tensor_meta(i).sizes())
                             for i in range(meta.num_inputs())]
        self.num_outputs = meta.num_outputs()
        # an fp32 detector's H and W vary up to the planned (export) size
        self.dynamic = self.metadata.get('dynamic_hw') == 'true'

    def __call__(self, *inputs: np.ndarray) -> List[np.ndarray]:
        tensors = [torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]
        for i, (tensor, shape) in enumerate(zip(tensors, self.input_shapes)):
            if tensor.dim() != len(shape) or any(
                    v > limit for v, limit in zip(tensor.shape, shape)) or (
                        not self.dynamic and list(tensor.shape) != shape):
                raise ValueError(
                    f'input {i} of this ExecuTorch program must be '
                    f'{"at most " if self.dynamic else ""}{tuple(shape)}, '
                    f'got {tuple(tensor.shape)}: export it with --shape '
                    'covering the inputs (--shape sets the largest input '
                    "of a detector's program)")
        return [out.numpy() for out in self._method.execute(tensors)]


def read_pte_metadata(path: str) -> Dict[str, str]:
    """The mmshuffle metadata of a ``.pte`` file ({} without any)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path!r} does not exist')
    program = _runtime().load_program(path)
    if META_METHOD not in program.method_names:
        return {}
    return json.loads(program.load_method(META_METHOD).execute([])[0])


__all__ = [
    'META_METHOD', 'PIP_NAME', 'ExecuTorchExportError', 'PteProgram',
    'export_module_pte', 'pad_input',
    'quantize_submodule', 'read_pte_metadata', 'require_executorch',
    'set_threads', 'write_pte'
]
