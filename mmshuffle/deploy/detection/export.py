"""Export a :class:`~.graph.DetectorForExport` to one ONNX file, or to an
ExecuTorch program."""
import json
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import ops
from ..fuse import switch_to_deploy
from ..onnx import _require, check_opset, export_program
from .graph import DetectorForExport
from .postprocess import PriorGrid, cls_name


def check_detection_shape(shape: Sequence[int], divisor: int) -> Tuple[int,
                                                                       int]:
    """Validate an ``(H, W)`` example size for a detector whose input must
    be a multiple of ``divisor``."""
    shape = tuple(shape)
    if len(shape) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0
            for v in shape):
        raise ValueError(f'shape must be (H, W) with positive integer '
                         f'sizes, but got {shape!r}')
    if any(v % divisor for v in shape):
        raise ValueError(
            f'shape {shape} is not divisible by {divisor}, the largest '
            "stride of the detector's input (data_preprocessor "
            'pad_size_divisor / backbone stride); use multiples of '
            f'{divisor}')
    return shape


def export_detector(wrapped: DetectorForExport,
                    path: str,
                    shape: Sequence[int] = (320, 320),
                    dynamic_batch: bool = False,
                    opset: int = 18,
                    metadata: Optional[Dict[str, str]] = None) -> str:
    """Export ``wrapped`` to ``path`` (written atomically, with its
    :meth:`~.graph.DetectorForExport.metadata`, updated with
    ``metadata``): input ``input``
    (N, 3, H, W) with H and W dynamic multiples of its ``size_divisor``
    (``shape`` is the example size; N dynamic with ``dynamic_batch``), and
    ``image_hw`` (N, 2, int64) where the wrapper takes it; outputs ``dets``
    and ``labels``. The detector is switched to its deploy
    form (BatchNorm folded) in place. The example is traced at no less than
    twice the head's largest prior stride per side: a feature map of size
    1 would be fixed in the graph (torch.export specialises sizes 0 and 1),
    and the file would then fail at other sizes.

    Raises:
        ValueError: bad ``shape``/``opset``, or the graph uses an operator
            outside the standard ONNX domain.
    """
    _require('onnx')
    _require('onnxscript')
    check_opset(opset, lowest=18)
    examples, names, shapes = _prepare(wrapped, shape, 8192,
                                       dynamic_batch)
    with torch.no_grad():
        return export_program(wrapped, examples, path, ('dets', 'labels'),
                              opset, shapes, ops.onnx_translations(),
                              dict(wrapped.metadata(), **(metadata or {})),
                              names)


def _prepare(wrapped: DetectorForExport, shape: Sequence[int], largest: int,
             dynamic_batch: bool = False):
    """Switch ``wrapped`` to its deploy form and make the example inputs,
    their names and their dynamic shapes (H and W multiples of the size
    divisor up to ``largest``). The example is no smaller than twice the
    head's largest prior stride per side: a feature map of size 1 would be
    fixed in the graph (torch.export specialises sizes 0 and 1)."""
    if not isinstance(wrapped, DetectorForExport):
        raise TypeError('the detector exporters take a DetectorForExport, '
                        f'got {cls_name(wrapped)}')
    divisor = wrapped.size_divisor
    shape = check_detection_shape(shape, divisor)
    switch_to_deploy(wrapped.detector)
    wrapped.eval()
    strides = [max(s) for m in wrapped.modules() if isinstance(m, PriorGrid)
               for s in m.strides]
    smallest = -(-2 * int(max(strides + [divisor])) // divisor) * divisor
    shape = tuple(max(v, smallest) for v in shape)
    example = torch.rand(1, 3, *shape) * (255 if wrapped.raw_input else 1)
    height = torch.export.Dim('height_blocks', min=1,
                              max=max(largest, shape[0]) // divisor)
    width = torch.export.Dim('width_blocks', min=1,
                             max=max(largest, shape[1]) // divisor)
    dims = {2: divisor * height, 3: divisor * width}
    examples, names, shapes = (example, ), ('input', ), [dims]
    batch = torch.export.Dim('batch', min=1, max=1024) \
        if dynamic_batch else None
    if batch is not None:
        dims[0] = batch
    if wrapped.image_hw_input:
        examples += (torch.tensor([list(shape)], dtype=torch.int64), )
        names += ('image_hw', )
        shapes.append({0: batch} if batch is not None else None)
    with torch.no_grad():
        wrapped(*examples)  # a head that cannot export fails here, plainly
    return examples, names, tuple(shapes)


def export_detector_pte(wrapped: DetectorForExport, path: str,
                        shape: Sequence[int] = (320, 320),
                        metadata: Optional[Dict[str, str]] = None,
                        calibration: Optional[Sequence] = None) -> str:
    """Export ``wrapped`` (``nms='host'``) to the ExecuTorch program
    ``path`` (XNNPACK; :mod:`mmshuffle.deploy.executorch`): input ``input``
    (1, 3, H, W) with H and W any multiples of the size divisor up to
    ``shape`` (the program's memory is planned for ``shape``); outputs the
    candidates ``boxes``, ``scores``, ``labels`` that
    :func:`~.host.host_nms` finishes. With ``calibration`` (graph input
    arrays, one image each, no larger than ``shape``) the network is
    quantized to INT8 (PT2E, XNNPACK's quantizer) and the program takes
    ``shape`` alone (smaller images are padded, by the runtime session
    too); the post-processing stays in float."""
    from ..executorch import pad_input, quantize_submodule, write_pte
    from ..metadata import InputSpec
    if not isinstance(wrapped, DetectorForExport) or wrapped.nms != 'host':
        raise TypeError('export_detector_pte takes a DetectorForExport '
                        "with nms='host'")
    asked = check_detection_shape(shape, wrapped.size_divisor)
    examples, _, shapes = _prepare(wrapped, shape, 0)
    shape = tuple(examples[0].shape[2:])
    if calibration is not None:
        # XNNPACK leaves a quantized 1x1 conv that shares its input with
        # a stride-2 depthwise conv (every ShuffleNetV2 stage's first
        # unit) outside the delegate when H and W are dynamic, and the
        # program then lacks its kernel: INT8 programs have a fixed size.
        # Without dynamic sizes a 1x1 map is no trap, so the program takes
        # the size asked for, not the enlarged example of the dynamic
        # export (SSDLite, whose last prior stride is 320, ran at 640)
        shapes, shape = (None, ), asked
        examples = (examples[0][:, :, :shape[0], :shape[1]].contiguous(),
                    ) + tuple(torch.tensor([list(shape)]) for _ in
                              examples[1:])
        spec = InputSpec(wrapped.metadata())
        calibration = [pad_input(a, shape, spec) for a in calibration]
    meta = dict(wrapped.metadata(), **(metadata or {}))
    meta.update(input_names='["input"]',
                output_names='["boxes", "scores", "labels"]',
                input_hw=json.dumps(list(shape)),
                dynamic_hw=json.dumps(calibration is None))
    if calibration is not None:
        normalised = examples[0]
        if wrapped.raw_input:
            normalised = ((normalised.flip(1) if wrapped.channel_flip else
                           normalised) - wrapped.mean) / wrapped.std

        def calibrate():
            with torch.no_grad():
                for array in calibration:
                    wrapped(torch.from_numpy(array))

        quantize_submodule(wrapped, 'dense', normalised, shapes[0],
                           calibrate)
        meta.update(precision='int8', calibration_images=str(
            len(calibration)))
    with torch.no_grad():
        return write_pte(wrapped, examples, path, meta,
                         cls_name(wrapped.detector), shapes)


def export_detector_ncnn(wrapped: DetectorForExport, path: str,
                         shape: Sequence[int] = (320, 320),
                         metadata: Optional[Dict[str, str]] = None,
                         fp16: bool = False) -> str:
    """Export ``wrapped`` (``decode='host'``: the network alone) to the
    ncnn model ``path`` (a ``.param`` file, :mod:`mmshuffle.deploy.ncnn`):
    input (1, 3, H, W), H and W any multiples of the size divisor (traced
    at ``shape``; checked at a larger size after the conversion: a graph
    that only computes right at ``shape`` gets metadata ``dynamic_hw:
    false``, and sessions pad smaller images to it); outputs the head's
    maps, which :func:`~.host.host_candidates` and :func:`~.host.host_nms`
    finish. mmdet FPNs upsample by a factor of 2 in the export
    (:func:`exact_upsampling`)."""
    from ..ncnn import NcnnProgram, update_ncnn_metadata, write_ncnn
    if not isinstance(wrapped, DetectorForExport) or \
            wrapped.decode != 'host':
        raise TypeError('export_detector_ncnn takes a DetectorForExport '
                        "with decode='host'")
    exact_upsampling(wrapped.detector)
    examples, _, _ = _prepare(wrapped, shape, 0)
    levels = len(wrapped.post.candidates.priors.strides)
    network = _HeadMaps(wrapped).eval()
    meta = dict(wrapped.metadata(), **(metadata or {}))
    meta.update(input_names='["input"]',
                output_names=json.dumps([f'cls{i}' for i in range(levels)] +
                                        [f'reg{i}' for i in range(levels)]),
                input_hw=json.dumps(list(examples[0].shape[2:])),
                dynamic_hw='false')
    write_ncnn(network, examples[0], path, meta, cls_name(wrapped.detector),
               fp16)
    # pnnx fixes every size it cannot see vary: a graph that holds one (a
    # resize to another map's size) serves its export size alone, padded;
    # it takes any size once it computed right at a second, larger one
    step = wrapped.size_divisor
    height, width = examples[0].shape[2:]
    other = torch.rand(1, 3, height + step, width + 2 * step) * (
        255 if wrapped.raw_input else 1)
    with torch.no_grad():
        expected = [e.numpy() for e in network(other)]
    try:
        got = NcnnProgram(path, any_size=True)(other.numpy())
    except (RuntimeError, ValueError):  # it stays a one-size model
        return path
    if all(o.shape == e.shape and np.allclose(
            o, e, atol=(0.05 if fp16 else 1e-3) * max(1, np.abs(e).max()))
           for o, e in zip(got, expected)):
        update_ncnn_metadata(path, dynamic_hw='true')
    return path


def exact_upsampling(detector: torch.nn.Module) -> int:
    """Give every mmdet FPN of ``detector`` (``upsample_cfg`` without a
    scale factor, nearest) ``scale_factor=2``, in place: the same pixels for
    inputs padded to the size divisor, where each map is twice the next,
    and a traced graph (pnnx's) that keeps working at other sizes instead
    of one fixed to the example's maps. The number of necks changed."""
    changed = 0
    for module in detector.modules():
        cfg = getattr(module, 'upsample_cfg', None)
        if isinstance(cfg, dict) and 'scale_factor' not in cfg and \
                cfg.get('mode', 'nearest') == 'nearest':
            module.upsample_cfg = dict(cfg, scale_factor=2.0)
            changed += 1
    return changed


class _HeadMaps(torch.nn.Module):
    """A ``decode='host'`` wrapper's network with each weight reachable by
    one path (pnnx turns a weight it meets under two names, the wrapper's
    ``detector`` and ``dense.detector``, into a graph input)."""

    def __init__(self, wrapped: DetectorForExport):
        super().__init__()
        self.dense = wrapped.dense
        self.raw_input, self.channel_flip = (wrapped.raw_input,
                                             wrapped.channel_flip)
        self.register_buffer('mean', wrapped.mean.clone(), persistent=False)
        self.register_buffer('std', wrapped.std.clone(), persistent=False)

    def forward(self, x):
        if self.raw_input:
            if self.channel_flip:
                x = x.flip(1)
            x = (x - self.mean) / self.std
        return self.dense(x)


def set_nms_pre(model, nms_pre: int) -> str:
    """Cap the candidates per level before NMS at ``nms_pre``: the test
    setting of the head that selects them (a two-stage detector's RPN);
    the head's name."""
    if isinstance(nms_pre, bool) or not isinstance(nms_pre, int) \
            or nms_pre < 1:
        raise ValueError(f'nms_pre must be an int >= 1, got {nms_pre!r}')
    head = 'rpn_head' if getattr(model, 'rpn_head', None) is not None \
        else 'bbox_head'
    getattr(model, head).test_cfg['nms_pre'] = nms_pre
    return head
