"""The one metadata format of every file mmshuffle exports.

An exported model carries string key/value pairs that say how to feed it
and how to read its outputs: ``task``, and for a detector ``raw_input``,
``mean``, ``std``, ``bgr_to_rgb``, ``size_divisor``, ``classes``,
``max_per_img``, ``score_thr``; a quantized file adds ``precision``,
``calibration_images`` and ``weight_bits``. Lists and booleans are JSON.

Where they are stored:

* ONNX: the model's ``metadata_props``, each key prefixed
  :data:`META_PREFIX` (``mmshuffle.task``, ...);
* OpenVINO IR: the model's ``rt_info`` section :data:`IR_SECTION`.

:class:`InputSpec` reads back what the graph's input must be, so that every
runtime, check and calibration feeds it the same way.
"""
import json
import os.path as osp
from typing import Dict

import numpy as np

#: the key prefix of mmshuffle's entries in an ONNX ``metadata_props``
META_PREFIX = 'mmshuffle.'
#: the ``rt_info`` section of an OpenVINO IR holding the same entries
IR_SECTION = 'mmshuffle'


def set_metadata(proto, meta: Dict[str, str]) -> None:
    """Write ``meta`` into an ONNX model's ``metadata_props`` (keys
    prefixed :data:`META_PREFIX`), replacing earlier values."""
    keys = {META_PREFIX + k for k in meta}
    kept = [p for p in proto.metadata_props if p.key not in keys]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key = META_PREFIX + key
        entry.value = str(value)


def strip_prefix(props: Dict[str, str]) -> Dict[str, str]:
    """mmshuffle's entries of an ONNX ``metadata_props`` mapping (as
    onnxruntime's ``custom_metadata_map`` gives it), prefix removed."""
    return {k[len(META_PREFIX):]: v for k, v in props.items()
            if k.startswith(META_PREFIX)}


def read_metadata(path: str) -> Dict[str, str]:
    """The mmshuffle metadata of an exported ONNX file (an empty dict for
    files without any)."""
    import onnx
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path!r} does not exist')
    proto = onnx.load(path, load_external_data=False)
    return strip_prefix({p.key: p.value for p in proto.metadata_props})


def read_ir_metadata(model) -> Dict[str, str]:
    """The mmshuffle metadata of an OpenVINO model read from an IR
    (``openvino.Core().read_model``)."""
    info = model.get_rt_info()
    if IR_SECTION not in info:
        return {}
    section = info[IR_SECTION]
    section = section.astype(dict) if hasattr(section, 'astype') else section
    return {str(k): str(v.astype(str) if hasattr(v, 'astype') else v)
            for k, v in dict(section).items()}


def set_ir_metadata(model, meta: Dict[str, str]) -> None:
    """Write ``meta`` into an OpenVINO model's ``rt_info``."""
    for key, value in meta.items():
        model.set_rt_info(str(value), [IR_SECTION, key])


class InputSpec:
    """What an exported graph takes as input, from its metadata.

    The tools hand a runtime the data preprocessor's normalised batch (as
    ``tools/test.py`` hands PyTorch). A graph exported with ``raw_input``
    takes 0-255 pixels in the pipeline's channel order instead:
    :meth:`to_graph` undoes the normalisation (and the channel flip) for
    it, so that the padding, 0 after normalisation, becomes the mean
    colour, which the graph maps back to 0.

    Attributes:
        raw_input (bool), bgr_to_rgb (bool)
        mean (np.ndarray), std (np.ndarray): (1, C, 1, 1), float32; 0 and
            1 where the metadata has none.
        size_divisor (int): the multiple the input's H and W must be.
    """

    def __init__(self, meta: Dict[str, str]):
        self.raw_input = json.loads(meta.get('raw_input', 'false'))
        self.bgr_to_rgb = json.loads(meta.get('bgr_to_rgb', 'false'))
        self.mean = np.asarray(json.loads(meta.get('mean', '[0.0]')),
                               np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(json.loads(meta.get('std', '[1.0]')),
                              np.float32).reshape(1, -1, 1, 1)
        self.size_divisor = int(meta.get('size_divisor', 1))

    def to_graph(self, inputs: np.ndarray) -> np.ndarray:
        """The data preprocessor's normalised ``inputs`` (N, C, H, W) as
        the graph's input, float32 and contiguous."""
        inputs = np.asarray(inputs, dtype=np.float32)
        if self.raw_input:
            inputs = inputs * self.std + self.mean
            if self.bgr_to_rgb:
                inputs = inputs[:, ::-1]
        return np.ascontiguousarray(inputs, np.float32)

    def check_size(self, shape) -> None:
        """A ``ValueError`` unless the H and W of ``shape`` are multiples
        of :attr:`size_divisor`."""
        height, width = shape[-2:]
        if height % self.size_divisor or width % self.size_divisor:
            raise ValueError(
                f'input size {height}x{width} is not divisible by '
                f'{self.size_divisor}, which this detector needs (pad the '
                "batch: the config's data_preprocessor pad_size_divisor)")
