"""INT8 post-training quantization of exported classifiers and detectors.

onnxruntime's static quantization (``quantize_static``) in QDQ form:
per-channel symmetric int8 weights, per-tensor uint8 activations whose
ranges are calibrated (min-max) on real images. The weights use 7 bits
by default (onnxruntime's ``reduce_range``): on x86 CPUs without VNNI,
onnxruntime and OpenVINO multiply uint8 by int8 with ``VPMADDUBSW``, whose
int16 sums of two products saturate with full-range weights (measured in
docs/deployment.md); CPUs with VNNI and ARM do not saturate and may take
``weight_bits=8``. Only the arithmetic
operators are quantized (``Conv``, ``Gemm``, ``MatMul``); a detector's box
decoding, NMS and top-K stay in float. The QDQ file runs in onnxruntime
and in OpenVINO (which reads the quantize/dequantize pairs as INT8), and
converts to an OpenVINO IR.

:func:`calibration_images` draws the calibration images from a config's
val set or a folder of the user's, through the config's test pipeline, as
``tools/deployment/quantize.py`` uses them.
"""
import contextlib
import copy
import logging
import os
import os.path as osp
import tempfile
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np

#: operators that get int8 weights and activations
QUANTIZED_OPS = ('Conv', 'Gemm', 'MatMul')


@contextlib.contextmanager
def _quiet_root_logger():
    """onnxruntime's quantizer advises pre-processing through the root
    logger on every call; keep that advice out of the tools' output."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class _Reader:
    """onnxruntime's ``CalibrationDataReader`` protocol over a list of
    input arrays (a detector's ``image_hw`` input, where the graph has
    one, is each image's whole size)."""

    def __init__(self, names: Sequence[str], batches: Sequence[np.ndarray]):
        self.names = list(names)
        self.batches = list(batches)
        self.index = 0

    def get_next(self):
        if self.index >= len(self.batches):
            return None
        batch = np.ascontiguousarray(self.batches[self.index], np.float32)
        self.index += 1
        feed = {self.names[0]: batch}
        if 'image_hw' in self.names:
            feed['image_hw'] = np.tile(
                np.array([batch.shape[2:]], np.int64), (len(batch), 1))
        return feed

    def rewind(self):
        self.index = 0


def quantize_onnx(model_path: str,
                  out_path: str,
                  calibration: Iterable[np.ndarray],
                  per_channel: bool = True,
                  exclude: Optional[Callable[[object], bool]] = None,
                  weight_bits: int = 7) -> str:
    """Quantize ``model_path`` to ``out_path`` (``.onnx``, or ``.xml`` for
    an OpenVINO IR), calibrated on the input arrays of ``calibration``;
    the ``mmshuffle.*`` metadata is carried over, with ``precision`` set to
    ``int8`` and ``weight_bits`` recorded. Written atomically.
    ``exclude(node)`` may keep nodes in float. ``weight_bits`` is 7 (right
    on every CPU) or 8 (only for CPUs whose int8 products do not saturate:
    x86 with VNNI, ARM); see the module's docstring.

    Raises:
        ValueError: no calibration data, a bad ``out_path`` or
            ``weight_bits``.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    from mmshuffle.engine.fileio import atomic_write

    from .metadata import read_metadata, set_metadata
    if weight_bits not in (7, 8):
        raise ValueError(f'weight_bits must be 7 or 8, got {weight_bits!r}')
    if not out_path.endswith(('.onnx', '.xml')):
        raise ValueError(f'the quantized model is a .onnx or .xml file, got '
                         f'{out_path!r}')
    batches = [np.asarray(b, np.float32) for b in calibration]
    if not batches:
        raise ValueError('no calibration images')
    proto = onnx.load(model_path)
    excluded = [n.name for n in proto.graph.node
                if exclude is not None and exclude(n)]
    meta = read_metadata(model_path)
    directory = osp.dirname(osp.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp, \
            _quiet_root_logger():
        tmp_out = osp.join(tmp, 'int8.onnx')
        quantize_static(
            model_path,
            tmp_out,
            _Reader([i.name for i in proto.graph.input], batches),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=per_channel,
            reduce_range=weight_bits == 7,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options=dict(WeightSymmetric=True,
                               ActivationSymmetric=False))
        quantized = onnx.load(tmp_out)
        meta.update(precision='int8', calibration_images=str(len(batches)),
                    weight_bits=str(weight_bits))
        set_metadata(quantized, meta)
        if out_path.endswith('.onnx'):
            atomic_write(quantized.SerializeToString(), out_path)
        else:
            from .openvino import write_ir
            onnx.save(quantized, tmp_out)
            write_ir(tmp_out, out_path)
    return out_path


def calibration_images(cfg, count: int, seed: int, meta: Dict[str, str],
                       folder: Optional[str] = None) -> List[np.ndarray]:
    """Calibration images as the deployed model will see them: through the
    config's *test* pipeline and data preprocessor (never the train
    pipeline, whose augmentations widen the activation ranges beyond
    anything seen at deployment), as the input arrays of an exported file
    whose metadata is ``meta`` (:class:`~.metadata.InputSpec`), one image
    each. The images: ``count`` drawn with ``seed`` from the config's val
    set (its test set where it has none), or, with ``folder``, the first
    ``count`` images of that folder (all of them where it has fewer).

    Raises:
        ValueError: the val set has fewer than ``count`` images; the
            folder holds no image, or a file that cannot be read.
    """
    import random

    import torch
    from mmengine.runner import set_random_seed

    from mmshuffle.engine.cli import fix_dataloaders
    from mmshuffle.engine.configs import (build_data_preprocessor,
                                          loads_float32, one_by_one,
                                          prepare_image, test_pipeline)

    from .metadata import InputSpec
    from .standalone import expand_inputs, read_image
    preprocessor = build_data_preprocessor(cfg)
    spec = InputSpec(meta)

    def graph_input(batch):
        return spec.to_graph(preprocessor(batch, False)['inputs'].float()
                             .numpy())

    if folder is not None:
        pipeline, to_float32 = test_pipeline(cfg), loads_float32(cfg)
        out = []
        with torch.no_grad():
            for path in expand_inputs([folder])[:count]:
                data = prepare_image(pipeline, read_image(path), path,
                                     to_float32)
                out.append(graph_input(dict(
                    inputs=[data['inputs']],
                    data_samples=[data['data_samples']])))
        return out
    cfg = copy.deepcopy(cfg)
    field = 'val_dataloader' if cfg.get('val_dataloader') else \
        'test_dataloader'
    cfg[field].dataset.pipeline = cfg.test_dataloader.dataset.pipeline
    fix_dataloaders(cfg)
    loader = one_by_one(cfg, field, seed=seed,
                        sampler=dict(type='DefaultSampler', shuffle=True,
                                     seed=seed))
    name = field.split('_')[0]
    if len(loader.dataset) < count:
        raise ValueError(f'the {name} set has only {len(loader.dataset)} '
                         f'images, fewer than the {count} asked for')
    out = []
    # nothing in a test pipeline should draw random numbers; if a custom
    # step does, seed the global generators so that the same seed gives
    # the same file, and put the caller's random state back afterwards
    states = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            set_random_seed(seed)
            for data in loader:
                out.append(graph_input(data))
                if len(out) == count:
                    break
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
    return out


def head_predictors(proto) -> List[str]:
    """Names of the convolutions whose outputs feed no other convolution:
    a detector's final class/box predictors."""
    consumers = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    convs = [n for n in proto.graph.node if n.op_type == 'Conv']

    def feeds_conv(output, depth=0):
        for node in consumers.get(output, []):
            if node.op_type == 'Conv':
                return True
            if depth < 8 and any(feeds_conv(o, depth + 1)
                                 for o in node.output):
                return True
        return False

    return [n.name for n in convs if not feeds_conv(n.output[0])]
