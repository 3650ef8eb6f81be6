"""The two detection operators an exported detector needs beyond plain
tensor maths, as PyTorch custom ops with an ONNX translation each.

* ``mmshuffle::nms_keep(boxes (N, M, 4), scores (N, M), iou_threshold,
  score_threshold, max_output) -> keep (N, M)``: greedy NMS of every image
  (boxes ``x1, y1, x2, y2``; a box scoring ``<= score_threshold`` is never
  kept; at most ``max_output`` boxes per image), as a 0/1 mask. The mask
  keeps the PyTorch graph free of data-dependent shapes. ONNX: the standard
  ``NonMaxSuppression`` (one class) scattered into a zero mask.
* ``mmshuffle::roi_align(features (N, C, H, W), rois (R, 4), batch_indices
  (R,), output_size, spatial_scale, sampling_ratio, aligned) -> (R, C, S,
  S)``: average RoIAlign (mmcv's and torchvision's ``aligned`` semantics).
  ONNX: the standard ``RoiAlign`` (opset >= 16, ``half_pixel`` for
  ``aligned=True``).

In eager mode both run torchvision's kernels (the same algorithms mmcv's
``nms`` and ``RoIAlign`` implement), so a wrapped detector gives its
exported graph's results in PyTorch too.
"""
import torch
from torch import Tensor


@torch.library.custom_op('mmshuffle::nms_keep', mutates_args=())
def nms_keep(boxes: Tensor, scores: Tensor, iou_threshold: float,
             score_threshold: float, max_output: int) -> Tensor:
    """See the module docstring."""
    from torchvision.ops import nms
    keep = torch.zeros_like(scores)
    for n in range(boxes.shape[0]):
        valid = (scores[n] > score_threshold).nonzero().squeeze(1)
        if valid.numel() == 0:
            continue
        kept = nms(boxes[n, valid].float(), scores[n, valid].float(),
                   iou_threshold)[:max_output]
        keep[n, valid[kept]] = 1
    return keep


@nms_keep.register_fake
def _nms_keep_fake(boxes, scores, iou_threshold, score_threshold,
                   max_output):
    return torch.empty_like(scores)


@torch.library.custom_op('mmshuffle::roi_align', mutates_args=())
def roi_align(features: Tensor, rois: Tensor, batch_indices: Tensor,
              output_size: int, spatial_scale: float, sampling_ratio: int,
              aligned: bool) -> Tensor:
    """See the module docstring."""
    from torchvision.ops import roi_align as tv_roi_align
    boxes = torch.cat([batch_indices[:, None].to(rois.dtype), rois], dim=1)
    return tv_roi_align(features, boxes, output_size, spatial_scale,
                        sampling_ratio, aligned)


@roi_align.register_fake
def _roi_align_fake(features, rois, batch_indices, output_size,
                    spatial_scale, sampling_ratio, aligned):
    return features.new_empty(
        (rois.shape[0], features.shape[1], output_size, output_size))


def onnx_translations():
    """``custom_translation_table`` for ``torch.onnx.export``: the custom
    ops above written with standard ONNX operators (onnxscript)."""
    from onnxscript import FLOAT, INT64
    from onnxscript import opset18 as op

    def nms_keep_onnx(boxes: FLOAT, scores: FLOAT, iou_threshold: float,
                      score_threshold: float, max_output: int):
        selected = op.NonMaxSuppression(
            boxes, op.Unsqueeze(scores, op.Constant(value_ints=[1])),
            op.Constant(value_ints=[max_output]),
            op.Constant(value_floats=[iou_threshold]),
            op.Constant(value_floats=[score_threshold]))
        # selected: (S, 3) rows of (batch, class, box)
        index = op.Gather(selected, op.Constant(value_ints=[0, 2]), axis=1)
        count = op.Shape(selected, start=0, end=1)
        ones = op.Expand(op.CastLike(op.Constant(value_float=1.0), scores),
                         count)
        zeros = op.CastLike(op.ConstantOfShape(op.Shape(scores)), scores)
        return op.ScatterND(zeros, index, ones)

    def roi_align_onnx(features: FLOAT, rois: FLOAT, batch_indices: INT64,
                       output_size: int, spatial_scale: float,
                       sampling_ratio: int, aligned: bool):
        return op.RoiAlign(
            features, rois, batch_indices,
            coordinate_transformation_mode='half_pixel'
            if aligned else 'output_half_pixel',
            mode='avg',
            output_height=output_size,
            output_width=output_size,
            sampling_ratio=sampling_ratio,
            spatial_scale=spatial_scale)

    return {
        torch.ops.mmshuffle.nms_keep.default: nms_keep_onnx,
        torch.ops.mmshuffle.roi_align.default: roi_align_onnx,
    }
