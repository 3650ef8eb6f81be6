"""End-to-end export of mmdet detectors: image tensor in, final boxes out.

* :mod:`.postprocess`: priors, box decoding, candidate selection and NMS
  in standard ONNX operators;
* :mod:`.graph`: :class:`DetectorForExport`, the detector and its
  post-processing as one module (see its docstring for what is supported);
* :mod:`.export`: :func:`export_detector`, the ONNX file;
* :mod:`.verify`: the detector's own predictions and the box-for-box
  comparison with an exported file's.
"""
from .export import check_detection_shape, export_detector, set_nms_pre
from .graph import DetectorForExport
from .postprocess import UnsupportedDetectorError
from .verify import (compare_detections, input_pixel_samples,
                     predict_reference, split_detections)

__all__ = [
    'DetectorForExport', 'UnsupportedDetectorError', 'check_detection_shape',
    'compare_detections', 'export_detector', 'input_pixel_samples',
    'predict_reference', 'set_nms_pre', 'split_detections'
]
