"""One way to run an exported model on a CPU runtime.

    runtime = load_runtime('model.onnx', backend='openvino', threads=1)
    outputs = runtime(images)     # numpy float32 (N, 3, H, W) -> [numpy]

``backend`` is ``onnxruntime`` (an ``.onnx`` file), ``openvino`` (an
``.onnx`` file or OpenVINO's own IR, ``.xml`` beside its ``.bin``) or
``executorch`` (a ``.pte`` program with the XNNPACK delegate:
:mod:`mmshuffle.deploy.executorch`) or ``ncnn`` (a ``.param`` graph, its
``.bin`` weights and ``.json`` metadata beside it:
:mod:`mmshuffle.deploy.ncnn`).
OpenVINO's CPU plugin runs in bf16 by default on CPUs with bf16 units;
:class:`Runtime` asks it for f32 (``INFERENCE_PRECISION_HINT``), and
:attr:`Runtime.precision` says what the plugin actually uses. The same
callable serves evaluation, inference and benchmarks.

:class:`ClassificationSession` and :class:`DetectionSession` put the
file's pre- and post-processing around it: they take the data
preprocessor's normalised batch, as ``tools/test.py`` feeds PyTorch.
"""
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np

from .metadata import InputSpec
from .standalone import to_original_image  # noqa: F401  (re-exported)

BACKENDS = ('onnxruntime', 'openvino', 'executorch', 'ncnn')
#: the model files each backend reads
EXTENSIONS = {'onnxruntime': ('.onnx', ), 'openvino': ('.onnx', '.xml'),
              'executorch': ('.pte', ), 'ncnn': ('.param', )}
#: the backend a model file runs on by default, by its extension
DEFAULT_BACKEND = {'.onnx': 'onnxruntime', '.xml': 'openvino',
                   '.pte': 'executorch', '.param': 'ncnn'}


class Runtime:
    """A loaded model: call it with numpy inputs (one array per graph
    input, positional) to get the list of its outputs.

    Attributes:
        path (str), backend (str), threads (int)
        precision (str): the precision the runtime computes in
            (``f32`` for onnxruntime; OpenVINO's inference precision).
        input_names (list[str]), output_names (list[str])
        input_shapes (list[list]): per input, its sizes (``None`` or a
            name where dynamic).
        metadata (dict): the mmshuffle metadata of the exported file
            (:mod:`mmshuffle.deploy.metadata`; empty when it has none).
    """

    def __init__(self, path: str, backend: str, threads: int):
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got '
                             f'{backend!r}')
        if not isinstance(threads, int) or isinstance(threads, bool) or \
                threads < 1:
            raise ValueError(f'threads must be an int >= 1, got '
                             f'{threads!r}')
        if not osp.isfile(path):
            raise FileNotFoundError(f'model file {path!r} does not exist')
        ext = osp.splitext(path)[1].lower()
        if ext not in EXTENSIONS[backend]:
            raise ValueError(f'{backend} cannot read {path!r}: the model '
                             f'must be a {" or ".join(EXTENSIONS[backend])} '
                             'file')
        self.path, self.backend, self.threads = path, backend, threads
        getattr(self, f'_load_{backend}')()

    def _load_onnxruntime(self):
        from .metadata import strip_prefix
        from .onnx import ort_session
        self._session = ort_session(self.path, self.threads)
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]
        self.input_shapes = [list(i.shape) for i in
                             self._session.get_inputs()]
        self.metadata = strip_prefix(
            self._session.get_modelmeta().custom_metadata_map)
        self.precision = 'f32'

    def _load_openvino(self):
        from .metadata import read_ir_metadata, read_metadata
        from .openvino import require_openvino
        ov = require_openvino()
        core = ov.Core()
        model = core.read_model(self.path)
        self.metadata = read_metadata(self.path) \
            if self.path.lower().endswith('.onnx') else \
            read_ir_metadata(model)
        self.input_names = [i.get_any_name() for i in model.inputs]
        self.output_names = [o.get_any_name() for o in model.outputs]
        self.input_shapes = [[d.get_length() if d.is_static else None
                              for d in i.get_partial_shape()]
                             for i in model.inputs]
        config = {
            'INFERENCE_PRECISION_HINT': 'f32',
            'INFERENCE_NUM_THREADS': self.threads,
            'PERFORMANCE_HINT': 'LATENCY',
        }
        self._compiled = core.compile_model(model, 'CPU', config)
        self._request = self._compiled.create_infer_request()
        hint = self._compiled.get_property('INFERENCE_PRECISION_HINT')
        self.precision = hint.to_string() if hasattr(hint, 'to_string') \
            else str(hint)

    def _load_executorch(self):
        from .executorch import PteProgram
        self._take_program(PteProgram(self.path, self.threads))
        self.precision = 'int8' if self.metadata.get(
            'precision') == 'int8' else 'f32'

    def _load_ncnn(self):
        from .ncnn import NcnnProgram
        self._take_program(NcnnProgram(self.path, self.threads))
        self.precision = self._program.precision

    def _take_program(self, program):
        """A phone runtime's loaded model (ExecuTorch's, ncnn's): its
        threads, metadata, input sizes and the names its metadata gives."""
        import json
        self._program = program
        self.threads = program.threads  # ExecuTorch: the process's pool
        self.metadata = program.metadata
        self.input_shapes = program.input_shapes
        self.input_names = json.loads(self.metadata.get(
            'input_names', '["input"]'))
        self.output_names = json.loads(self.metadata.get(
            'output_names', 'null')) or [
                f'output{i}' for i in range(program.num_outputs)]

    def __call__(self, *inputs: np.ndarray) -> List[np.ndarray]:
        if len(inputs) != len(self.input_names):
            raise ValueError(f'{self.path!r} takes {len(self.input_names)} '
                             f'input(s), got {len(inputs)}')
        arrays = [np.ascontiguousarray(x) for x in inputs]
        if self.backend in ('executorch', 'ncnn'):
            return self._program(*arrays)
        if self.backend == 'onnxruntime':
            return self._session.run(
                None, dict(zip(self.input_names, arrays)))
        result = self._request.infer(arrays)
        return [np.array(result[out]) for out in self._compiled.outputs]

    def __repr__(self):
        return (f'Runtime({self.path!r}, backend={self.backend!r}, '
                f'threads={self.threads}, precision={self.precision!r})')


def load_runtime(path: str, backend: str = 'onnxruntime',
                 threads: int = 1) -> Runtime:
    """Load an exported model (see the module docstring)."""
    return Runtime(path, backend, threads)


class _Session:
    """A runtime fed with normalised batches, in pieces of the file's
    fixed batch size where it has one."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.input = InputSpec(runtime.metadata)
        shape = runtime.input_shapes[0]
        self.input_shape = shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None

    def _run(self, inputs: np.ndarray, *extra: np.ndarray
             ) -> List[np.ndarray]:
        """Every output of the graph on the whole batch ``inputs`` (and
        the graph's further inputs ``extra``, one row per image)."""
        arrays = (self.input.to_graph(inputs), ) + extra
        step = self.fixed_batch if self.fixed_batch not in (
            None, len(inputs)) else len(inputs)
        outputs = [
            self.runtime(*(np.ascontiguousarray(a[i:i + step])
                           for a in arrays))
            for i in range(0, len(inputs), step)
        ]
        return [np.concatenate(parts) for parts in zip(*outputs)]


class ClassificationSession(_Session):
    """An exported classifier (``input -> logits``) on a runtime, fed
    with the data preprocessor's normalised batch."""

    def check_input(self, shape: Sequence[int]) -> None:
        """A ``ValueError`` unless images of ``shape`` (N, C, H, W) are
        what the file was exported for."""
        exported = self.input_shape
        if len(exported) != 4 or tuple(shape[2:]) != tuple(exported[2:]):
            raise ValueError(
                f'the test pipeline gives {tuple(shape[2:])} images but '
                f'the model was exported for {tuple(exported[2:])}: export '
                'it with --shape matching the test pipeline')

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """``inputs`` (N, 3, H, W) normalised -> logits (N, classes)."""
        self.check_input(np.shape(inputs))
        return self._run(inputs)[0]


class DetectionSession(_Session):
    """An exported end-to-end detector on a runtime, fed with the data
    preprocessor's normalised batch (a graph that takes raw pixels gets it
    de-normalised: :class:`~mmshuffle.deploy.metadata.InputSpec`).

    In a padded batch each image's boxes must be clipped to the image, not
    to the batch tensor, as mmdet clips them: a graph exported with the
    ``image_hw`` input is given each image's size; a graph without it runs
    each image that does not fill the tensor alone, on its own padded
    crop, which gives the boxes of a batch of one. A graph that stops
    before NMS (metadata ``nms: host``, ExecuTorch's) gets its candidates
    finished by :func:`~.detection.host.host_nms`, which clips each image's
    boxes to its size; a program of one size (INT8 ExecuTorch) gets the
    batch padded to it. A network without its decoding (metadata ``decode:
    host``, ncnn's) gets its head's maps decoded by
    :func:`~.detection.host.host_candidates` first."""

    def __init__(self, runtime: Runtime):
        if runtime.metadata.get('task') != 'detection':
            raise ValueError(
                f'{runtime.path!r} is not an end-to-end detector exported '
                'by tools/deployment/pytorch2onnx.py (no detection '
                'metadata)')
        super().__init__(runtime)
        import json
        self.classes = json.loads(runtime.metadata.get('classes', '[]'))
        self.takes_image_hw = 'image_hw' in runtime.input_names
        self.host_nms = runtime.metadata.get('nms') == 'host'
        # an INT8 ExecuTorch program has one size: batches are padded to it
        self.fixed_hw = tuple(self.input_shape[2:]) if \
            runtime.metadata.get('dynamic_hw') == 'false' else None

    def __call__(self, inputs: np.ndarray,
                 image_hw: Optional[np.ndarray] = None):
        """``inputs`` (N, 3, H, W) normalised -> (dets (N, K, 5), labels
        (N, K)) as numpy arrays. ``image_hw`` (N, 2): each image's height
        and width before the batch's padding (default: the tensor's)."""
        inputs = np.asarray(inputs, dtype=np.float32)
        self.input.check_size(inputs.shape)
        height, width = inputs.shape[2:]
        full = np.tile(np.array([[height, width]], np.int64),
                       (len(inputs), 1))
        image_hw = full if image_hw is None else \
            np.asarray(image_hw, np.int64).reshape(len(inputs), 2)
        if self.host_nms:
            from .detection.host import host_nms
            if self.fixed_hw is not None:  # normalised: pad_value as is
                from .executorch import pad_input
                inputs = pad_input(inputs, self.fixed_hw, InputSpec(
                    {'pad_value': str(self.input.pad_value)}))
            if self.runtime.metadata.get('decode') == 'host':
                from .detection.host import host_candidates
                boxes, scores, labels = host_candidates(
                    self._run(inputs), self.runtime.metadata,
                    inputs.shape[2:])
            else:
                boxes, scores, labels = self._run(inputs)[:3]
            return host_nms(boxes, scores, labels, self.runtime.metadata,
                            image_hw)
        if self.takes_image_hw:
            return tuple(self._run(inputs, image_hw)[:2])
        if (image_hw == full).all():
            return tuple(self._run(inputs)[:2])
        step = self.input.size_divisor
        dets, labels = [], []
        for image, (h, w) in zip(inputs, image_hw):
            crop = image[None, :, :-(-h // step) * step, :-(-w // step) * step]
            out = self._run(crop)
            dets.append(out[0])
            labels.append(out[1])
        return np.concatenate(dets), np.concatenate(labels)
