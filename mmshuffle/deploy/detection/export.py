"""Export a :class:`~.graph.DetectorForExport` to one ONNX file."""
from typing import Dict, Optional, Sequence, Tuple

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
    if not isinstance(wrapped, DetectorForExport):
        raise TypeError('export_detector expects a DetectorForExport, got '
                        f'{cls_name(wrapped)}')
    divisor = wrapped.size_divisor
    shape = check_detection_shape(shape, divisor)
    check_opset(opset, lowest=18)
    switch_to_deploy(wrapped.detector)
    wrapped.eval()
    strides = [max(s) for m in wrapped.modules() if isinstance(m, PriorGrid)
               for s in m.strides]
    smallest = -(-2 * int(max(strides + [divisor])) // divisor) * divisor
    shape = tuple(max(v, smallest) for v in shape)
    example = torch.rand(1, 3, *shape) * (255 if wrapped.raw_input else 1)
    height = torch.export.Dim('height_blocks', min=1, max=8192 // divisor)
    width = torch.export.Dim('width_blocks', min=1, max=8192 // divisor)
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
        return export_program(wrapped, examples, path, ('dets', 'labels'),
                              opset, tuple(shapes), ops.onnx_translations(),
                              dict(wrapped.metadata(), **(metadata or {})),
                              names)
