"""One way to run an exported model on a CPU runtime.

    runtime = load_runtime('model.onnx', backend='openvino', threads=1)
    outputs = runtime(images)     # numpy float32 (N, 3, H, W) -> [numpy]

``backend`` is ``onnxruntime`` (an ``.onnx`` file) or ``openvino`` (an
``.onnx`` file or OpenVINO's own IR, ``.xml`` beside its ``.bin``).
OpenVINO's CPU plugin runs in bf16 by default on CPUs with bf16 units;
:func:`load_runtime` asks for f32 (``INFERENCE_PRECISION_HINT``) unless told
otherwise, and :attr:`Runtime.precision` says what the plugin actually
uses. The same callable serves evaluation, inference and benchmarks.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

BACKENDS = ('onnxruntime', 'openvino')
PRECISIONS = ('f32', 'bf16', 'f16')
IR_META = 'mmshuffle'  # rt_info section of an OpenVINO IR


def _require_openvino():
    try:
        import openvino
    except ImportError as err:
        raise ImportError(
            'the openvino backend needs the openvino package; install it '
            'with `pip install openvino` (or `pip install '
            'mmshuffle[openvino]`)') from err
    return openvino


class Runtime:
    """A loaded model: call it with numpy inputs (one array per graph
    input, positional) to get the list of its outputs.

    Attributes:
        path (str), backend (str), threads (int)
        precision (str): the precision the runtime computes in
            (``f32`` for onnxruntime; OpenVINO's inference precision).
        input_names (list[str]), output_names (list[str])
        metadata (dict): the ``mmshuffle.*`` metadata of the exported
            file (empty when it has none).
    """

    def __init__(self, path: str, backend: str, threads: int,
                 precision: str = 'f32'):
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got '
                             f'{backend!r}')
        if not isinstance(threads, int) or isinstance(threads, bool) or \
                threads < 1:
            raise ValueError(f'threads must be an int >= 1, got '
                             f'{threads!r}')
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, got '
                             f'{precision!r}')
        if not osp.isfile(path):
            raise FileNotFoundError(f'model file {path!r} does not exist')
        ext = osp.splitext(path)[1].lower()
        if ext not in ('.onnx', '.xml') or (ext == '.xml' and
                                            backend != 'openvino'):
            allowed = '.onnx or .xml (OpenVINO IR)' \
                if backend == 'openvino' else '.onnx'
            raise ValueError(f'{backend} cannot read {path!r}: the model '
                             f'must be a {allowed} file')
        self.path, self.backend, self.threads = path, backend, threads
        if backend == 'onnxruntime':
            self._load_onnxruntime()
        else:
            self._load_openvino(precision)

    def _load_onnxruntime(self):
        from .onnx import ort_session
        self._session = ort_session(self.path, self.threads)
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]
        self.input_shapes = [list(i.shape) for i in
                             self._session.get_inputs()]
        meta = self._session.get_modelmeta().custom_metadata_map
        self.metadata = _strip_prefix(meta)
        self.precision = 'f32'

    def _load_openvino(self, precision: str):
        ov = _require_openvino()
        core = ov.Core()
        model = core.read_model(self.path)
        if self.path.lower().endswith('.onnx'):
            from .detector import read_metadata
            self.metadata = read_metadata(self.path)
        else:
            self.metadata = read_ir_metadata(model)
        self.input_names = [i.get_any_name() for i in model.inputs]
        self.output_names = [o.get_any_name() for o in model.outputs]
        self.input_shapes = [[d.get_length() if d.is_static else None
                              for d in i.get_partial_shape()]
                             for i in model.inputs]
        config = {
            'INFERENCE_PRECISION_HINT': precision,
            'INFERENCE_NUM_THREADS': self.threads,
            'PERFORMANCE_HINT': 'LATENCY',
        }
        self._compiled = core.compile_model(model, 'CPU', config)
        self._request = self._compiled.create_infer_request()
        hint = self._compiled.get_property('INFERENCE_PRECISION_HINT')
        self.precision = hint.to_string() if hasattr(hint, 'to_string') \
            else str(hint)

    def __call__(self, *inputs: np.ndarray) -> List[np.ndarray]:
        if len(inputs) != len(self.input_names):
            raise ValueError(f'{self.path!r} takes {len(self.input_names)} '
                             f'input(s), got {len(inputs)}')
        arrays = [np.ascontiguousarray(x) for x in inputs]
        if self.backend == 'onnxruntime':
            return self._session.run(
                None, dict(zip(self.input_names, arrays)))
        result = self._request.infer(arrays)
        return [np.array(result[out]) for out in self._compiled.outputs]

    def __repr__(self):
        return (f'Runtime({self.path!r}, backend={self.backend!r}, '
                f'threads={self.threads}, precision={self.precision!r})')


def _strip_prefix(meta: Dict[str, str]) -> Dict[str, str]:
    from .detector import META_PREFIX
    return {k[len(META_PREFIX):]: v for k, v in meta.items()
            if k.startswith(META_PREFIX)}


def read_ir_metadata(model) -> Dict[str, str]:
    """The ``mmshuffle`` metadata stored in an OpenVINO model's
    ``rt_info`` (see :func:`write_ir`)."""
    info = model.get_rt_info()
    if IR_META not in info:
        return {}
    section = info[IR_META]
    section = section.astype(dict) if hasattr(section, 'astype') else section
    return {str(k): str(v.astype(str) if hasattr(v, 'astype') else v)
            for k, v in dict(section).items()}


def write_ir(onnx_path: str, xml_path: str,
             metadata: Optional[Dict[str, str]] = None) -> str:
    """Convert an ONNX file to OpenVINO IR (``xml_path`` and its ``.bin``,
    weights kept in f32), carrying the ``mmshuffle.*`` metadata over into
    the IR's ``rt_info``."""
    ov = _require_openvino()
    from .detector import read_metadata
    if not xml_path.endswith('.xml'):
        raise ValueError(f'an OpenVINO IR is a .xml file, got {xml_path!r}')
    model = ov.convert_model(onnx_path)
    meta = read_metadata(onnx_path)
    meta.update(metadata or {})
    for key, value in meta.items():
        model.set_rt_info(str(value), [IR_META, key])
    tmp = xml_path[:-4] + '.tmp.xml'
    ov.save_model(model, tmp, compress_to_fp16=False)
    import os
    os.replace(tmp[:-4] + '.bin', xml_path[:-4] + '.bin')
    # the .xml names its weights file by the .xml's stem: rewrite it last
    os.replace(tmp, xml_path)
    return xml_path


def load_runtime(path: str, backend: str = 'onnxruntime', threads: int = 1,
                 precision: str = 'f32') -> Runtime:
    """Load an exported model (see the module docstring)."""
    return Runtime(path, backend, threads, precision)


class DetectionSession:
    """An exported end-to-end detector on a runtime, fed with the data
    preprocessor's normalised batch (as ``tools/test.py`` feeds PyTorch).

    A graph that takes raw pixels (``raw_input`` metadata) gets the batch
    de-normalised (and its channels flipped back); the padding, 0 after
    normalisation, becomes the mean colour, which the graph maps back to 0.
    """

    def __init__(self, runtime: Runtime):
        meta = runtime.metadata
        if meta.get('task') != 'detection':
            raise ValueError(
                f'{runtime.path!r} is not an end-to-end detector exported '
                'by tools/deployment/pytorch2onnx.py (no detection '
                'metadata)')
        self.runtime = runtime
        self.raw_input = json.loads(meta.get('raw_input', 'false'))
        self.mean = np.asarray(json.loads(meta['mean']),
                               dtype=np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(json.loads(meta['std']),
                              dtype=np.float32).reshape(1, -1, 1, 1)
        self.bgr_to_rgb = json.loads(meta.get('bgr_to_rgb', 'false'))
        self.size_divisor = int(meta.get('size_divisor', 1))
        self.classes = json.loads(meta.get('classes', '[]'))
        shape = runtime.input_shapes[0]
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None

    def check_input(self, shape: Sequence[int]) -> None:
        height, width = shape[-2:]
        if height % self.size_divisor or width % self.size_divisor:
            raise ValueError(
                f'input size {height}x{width} is not divisible by '
                f'{self.size_divisor}, which this detector needs (pad the '
                "batch: the config's data_preprocessor pad_size_divisor)")

    def __call__(self, inputs: np.ndarray):
        """``inputs`` (N, 3, H, W) normalised -> (dets (N, K, 5), labels
        (N, K)) as numpy arrays."""
        inputs = np.asarray(inputs, dtype=np.float32)
        self.check_input(inputs.shape)
        if self.raw_input:
            inputs = inputs * self.std + self.mean
            if self.bgr_to_rgb:
                inputs = inputs[:, ::-1]
        batches = [inputs] if self.fixed_batch in (None, len(inputs)) else \
            [inputs[i:i + self.fixed_batch]
             for i in range(0, len(inputs), self.fixed_batch)]
        dets, labels = [], []
        for batch in batches:
            out = self.runtime(np.ascontiguousarray(batch, np.float32))
            dets.append(out[0])
            labels.append(out[1])
        return np.concatenate(dets), np.concatenate(labels)


def to_original_image(dets: np.ndarray, labels: np.ndarray,
                      img_shape: Sequence[int],
                      scale_factor: Optional[Sequence[float]] = None):
    """One image's graph outputs (``dets`` (K, 5), ``labels`` (K,)) as
    ``(bboxes, scores, labels)`` of its real detections in original-image
    pixels: padding rows dropped, boxes clipped to ``img_shape`` (H, W,
    the image before batch padding) and divided by the pipeline's
    ``scale_factor`` (w, h), as mmdet's ``rescale=True`` does."""
    dets, labels = np.asarray(dets), np.asarray(labels)
    keep = dets[:, 4] > 0
    boxes = dets[keep, :4].astype(np.float32).copy()
    height, width = img_shape[:2]
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    if scale_factor is not None:
        boxes /= np.tile(np.asarray(scale_factor, np.float32), 2)
    return boxes, dets[keep, 4].astype(np.float32), \
        labels[keep].astype(np.int64)
