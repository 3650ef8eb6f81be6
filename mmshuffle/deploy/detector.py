"""End-to-end ONNX export of mmdet detectors: image tensor in, final boxes
out.

:class:`DetectorForExport` wraps an mmdet detector as one graph::

    input (N, 3, H, W) -> dets (N, K, 5) (x1, y1, x2, y2, score),
                          labels (N, K) (int64)

with the head's box decoding, the score threshold, per-class NMS and the
top-K inside the graph, written with standard ONNX operators only
(``NonMaxSuppression``, ``TopK``, ``RoiAlign``, ...). Thresholds and K come
from the detector's ``test_cfg``. Rows past the image's detections are
padding: score 0, box 0 and label -1. Boxes are in the input tensor's
pixels (undo the test pipeline's resize to get the original image's).

What is supported is decided by mmdet's head classes, not by config names:

* single-stage detectors (``SingleStageDetector``: RetinaNet, SSD, RTMDet,
  ...) whose dense head returns ``(cls_scores, bbox_preds)`` (no
  centerness/objectness factors), with an ``AnchorGenerator`` (or subclass,
  e.g. SSD's) and a ``DeltaXYWHBBoxCoder``, or an ``MlvlPointGenerator`` and
  a ``DistancePointBBoxCoder``; sigmoid or softmax classification;
* two-stage detectors (``TwoStageDetector``: Faster R-CNN) with an
  ``RPNHead`` and a ``StandardRoIHead`` (``SingleRoIExtractor`` with
  RoIAlign, a box head without masks, ``DeltaXYWHBBoxCoder``).

Anything else raises :class:`UnsupportedDetectorError` naming the class.
Post-processing follows mmdet 3.3's ``predict`` path step by step
(per-level top ``nms_pre`` of (prior, class) pairs above ``score_thr``,
decoding clipped to the input, ``min_bbox_size``, NMS with the same
class-offset trick as mmcv's ``batched_nms``, top ``max_per_img``), so the
graph's boxes equal the detector's own predictions (checked by
:func:`compare_detections`).

With ``raw_input=True`` the data preprocessor's channel conversion and
normalisation are folded in: the graph takes 0-255 pixels in the channel
order the config's pipeline loads them (BGR for ``LoadImageFromFile``).
The input's H and W must be multiples of :attr:`size_divisor` (the
preprocessor's ``pad_size_divisor``, at least the backbone's largest
stride); pad with the mean colour (0 after normalisation) as the data
preprocessor does.
"""
import contextlib
import io
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import ops  # noqa: F401  (registers torch.ops.mmshuffle.*)

#: metadata keys written into an exported detector (``metadata_props``)
META_PREFIX = 'mmshuffle.'


class UnsupportedDetectorError(ValueError):
    """The detector (or one of its heads) has no end-to-end export."""


def _cls_name(obj) -> str:
    return type(obj).__name__


def _check_nms(cfg, where: str) -> Tuple[float, bool]:
    nms = cfg.get('nms') if cfg is not None else None
    if nms is None:
        raise UnsupportedDetectorError(
            f'{where}: test_cfg has no `nms`; the export needs '
            "nms=dict(type='nms', iou_threshold=...)")
    kind = nms.get('type', 'nms')
    if kind != 'nms':
        raise UnsupportedDetectorError(
            f"{where}: test_cfg.nms type {kind!r} has no ONNX form; only "
            "type='nms' (greedy hard NMS) is exported")
    return float(nms['iou_threshold']), bool(nms.get('class_agnostic', False))


# ----------------------------------------------------------------------
# priors and box decoding
# ----------------------------------------------------------------------
class PriorGrid(nn.Module):
    """The priors of one head level by level, for any feature-map size:
    anchors (``AnchorGenerator``: ``base_anchors`` shifted by the stride)
    or points (``MlvlPointGenerator``: ``(i + offset) * stride``)."""

    def __init__(self, generator, where: str):
        super().__init__()
        from mmdet.models.task_modules.prior_generators import (
            AnchorGenerator, MlvlPointGenerator)
        self.strides = [tuple(float(v) for v in s)
                        for s in generator.strides]
        if isinstance(generator, AnchorGenerator):
            self.kind = 'anchor'
            for i, base in enumerate(generator.base_anchors):
                self.register_buffer(f'base{i}', base.float().clone(),
                                     persistent=False)
            self.offset = 0.0
        elif isinstance(generator, MlvlPointGenerator):
            self.kind = 'point'
            self.offset = float(generator.offset)
        else:
            raise UnsupportedDetectorError(
                f'{where}: prior generator {_cls_name(generator)} is not '
                'supported (AnchorGenerator and its subclasses, or '
                'MlvlPointGenerator)')

    def forward(self, level: int, feat: Tensor) -> Tensor:
        """Priors of ``level`` for ``feat`` (N, C, h, w): (h*w*A, 4)
        anchors or (h*w, 2) points, row-major as mmdet's."""
        height, width = feat.shape[-2:]
        stride_w, stride_h = self.strides[level]
        xs = (torch.arange(width, device=feat.device, dtype=torch.float32) +
              self.offset) * stride_w
        ys = (torch.arange(height, device=feat.device, dtype=torch.float32) +
              self.offset) * stride_h
        yy, xx = torch.meshgrid(ys, xs, indexing='ij')
        xx, yy = xx.reshape(-1), yy.reshape(-1)
        if self.kind == 'point':
            return torch.stack([xx, yy], dim=-1)
        shifts = torch.stack([xx, yy, xx, yy], dim=-1)
        base = getattr(self, f'base{level}')
        return (shifts[:, None, :] + base[None]).reshape(-1, 4)


def _clip(boxes: Tensor, image_hw: Tensor) -> Tensor:
    """Clip ``x1, y1, x2, y2`` boxes to ``[0, W] x [0, H]``."""
    limit = image_hw.to(boxes.dtype)[[1, 0, 1, 0]]
    return torch.minimum(boxes.clamp(min=0), limit)


class BoxDecoder(nn.Module):
    """mmdet's ``DeltaXYWHBBoxCoder.decode`` (``delta2bbox``) or
    ``DistancePointBBoxCoder.decode`` (``distance2bbox``), clipped to the
    input as mmdet clips to ``img_shape``."""

    def __init__(self, coder, where: str):
        super().__init__()
        from mmdet.models.task_modules.coders import (DeltaXYWHBBoxCoder,
                                                      DistancePointBBoxCoder)
        self.clip_border = bool(getattr(coder, 'clip_border', True))
        if isinstance(coder, DeltaXYWHBBoxCoder):
            self.kind = 'delta'
            self.register_buffer(
                'means', torch.tensor(coder.means, dtype=torch.float32),
                persistent=False)
            self.register_buffer(
                'stds', torch.tensor(coder.stds, dtype=torch.float32),
                persistent=False)
            self.add_ctr_clamp = bool(coder.add_ctr_clamp)
            self.ctr_clamp = float(coder.ctr_clamp)
            self.max_ratio = abs(math.log(16 / 1000))
        elif isinstance(coder, DistancePointBBoxCoder):
            self.kind = 'distance'
        else:
            raise UnsupportedDetectorError(
                f'{where}: box coder {_cls_name(coder)} is not supported '
                '(DeltaXYWHBBoxCoder or DistancePointBBoxCoder)')

    def forward(self, priors: Tensor, preds: Tensor,
                image_hw: Tensor) -> Tensor:
        """``priors`` (..., 4) anchors or (..., 2) points, ``preds``
        (..., 4) -> boxes (..., 4)."""
        if self.kind == 'distance':
            points = priors[..., :2]
            boxes = torch.cat([points - preds[..., :2],
                               points + preds[..., 2:]], dim=-1)
        else:
            deltas = preds * self.stds + self.means
            pxy = (priors[..., :2] + priors[..., 2:]) * 0.5
            pwh = priors[..., 2:] - priors[..., :2]
            dxy_wh = pwh * deltas[..., :2]
            dwh = deltas[..., 2:]
            if self.add_ctr_clamp:
                dxy_wh = dxy_wh.clamp(min=-self.ctr_clamp,
                                      max=self.ctr_clamp)
                dwh = dwh.clamp(max=self.max_ratio)
            else:
                dwh = dwh.clamp(min=-self.max_ratio, max=self.max_ratio)
            gxy = pxy + dxy_wh
            gwh = pwh * dwh.exp()
            boxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
        return _clip(boxes, image_hw) if self.clip_border else boxes


# ----------------------------------------------------------------------
# candidate selection and NMS
# ----------------------------------------------------------------------
def _gather_rows(values: Tensor, index: Tensor) -> Tensor:
    """``values`` (N, M, D), ``index`` (N, K) -> (N, K, D)."""
    return values.gather(
        1, index[..., None].expand(-1, -1, values.shape[-1]))


def _topk_padded(scores: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """Top ``k`` along dim 1 of ``scores`` (N, M) for any M: the scores
    are padded with ``k`` zeros first; indices of padding are clamped to
    ``M - 1`` (their score is 0)."""
    pad = scores.new_zeros(scores.shape[0], k)
    top, index = torch.cat([scores, pad], dim=1).topk(k, dim=1)
    return top, torch.clamp(index, max=scores.shape[1] - 1)


def nms_top_k(boxes: Tensor, scores: Tensor, labels: Tensor,
              iou_threshold: float, score_threshold: float, max_num: int,
              class_agnostic: bool = False) -> Tuple[Tensor, Tensor]:
    """mmcv's ``batched_nms`` then the top ``max_num``, per image.

    Args:
        boxes (Tensor): (N, M, 4) candidates.
        scores (Tensor): (N, M); a candidate scoring ``<= score_threshold``
            (0 for padding) is dropped.
        labels (Tensor): (N, M) int64 classes (NMS runs per class).

    Returns:
        tuple: dets (N, max_num, 5) and labels (N, max_num), by descending
        score; padding rows have score 0, box 0 and label -1.
    """
    if class_agnostic:
        nms_boxes = boxes
    else:
        # mmcv's offset trick: boxes of different classes never overlap
        valid = (scores > score_threshold)[..., None]
        max_coord = torch.where(valid, boxes, torch.full_like(
            boxes, float('-inf'))).amax(dim=(1, 2), keepdim=True)
        max_coord = torch.where(torch.isfinite(max_coord), max_coord,
                                torch.zeros_like(max_coord))
        nms_boxes = boxes + (labels.to(boxes.dtype)[..., None] *
                             (max_coord + 1))
    keep = torch.ops.mmshuffle.nms_keep(nms_boxes, scores,
                                        float(iou_threshold),
                                        float(score_threshold), int(max_num))
    kept = torch.where(keep > 0, scores, torch.zeros_like(scores))
    top, index = _topk_padded(kept, max_num)
    valid = top > 0
    out_boxes = torch.where(valid[..., None], _gather_rows(boxes, index),
                            torch.zeros_like(top)[..., None])
    out_labels = torch.where(valid, labels.gather(1, index),
                             torch.full_like(index, -1))
    return torch.cat([out_boxes, top[..., None]], dim=-1), out_labels


class DenseCandidates(nn.Module):
    """A dense head's per-level candidates, as mmdet's
    ``BaseDenseHead._predict_by_feat_single`` selects them: the top
    ``nms_pre`` (prior, class) pairs of each level above ``score_thr``,
    decoded. With ``level_labels`` (the RPN) a candidate's label is its
    level and only the top ``nms_pre`` priors are kept (one class)."""

    def __init__(self, head, cfg, where: str, level_labels: bool = False):
        super().__init__()
        self.priors = PriorGrid(head.prior_generator, where)
        self.decoder = BoxDecoder(head.bbox_coder, where)
        self.use_sigmoid = bool(getattr(head, 'use_sigmoid_cls', True))
        self.cls_channels = int(head.cls_out_channels)
        self.nms_pre = int(cfg.get('nms_pre', -1))
        self.level_labels = level_labels
        if self.priors.kind == 'point' and self.decoder.kind == 'delta':
            raise UnsupportedDetectorError(
                f'{where}: a DeltaXYWHBBoxCoder needs anchors, but the '
                'prior generator gives points')

    def forward(self, cls_scores: Sequence[Tensor],
                bbox_preds: Sequence[Tensor], image_hw: Tensor):
        boxes, scores, labels = [], [], []
        for level, (cls, reg) in enumerate(zip(cls_scores, bbox_preds)):
            num = cls.shape[0]
            cls = cls.permute(0, 2, 3, 1).reshape(num, -1, self.cls_channels)
            reg = reg.permute(0, 2, 3, 1).reshape(num, -1, 4)
            priors = self.priors(level, bbox_preds[level])
            if self.use_sigmoid:
                prob = cls.sigmoid()
            else:  # background is the last class
                prob = cls.softmax(-1)[..., :-1]
            classes = prob.shape[-1]
            flat = prob.reshape(num, -1)
            if self.nms_pre > 0:
                top, index = _topk_padded(flat, self.nms_pre)
            else:
                top = flat
                index = torch.arange(
                    flat.shape[1], device=flat.device)[None].expand(num, -1)
            prior_index = torch.div(index, classes, rounding_mode='floor')
            label = index - prior_index * classes
            if self.level_labels:
                label = torch.full_like(label, level)
            box = self.decoder(priors[prior_index],
                               _gather_rows(reg, prior_index), image_hw)
            boxes.append(box)
            scores.append(top)
            labels.append(label)
        return (torch.cat(boxes, dim=1), torch.cat(scores, dim=1),
                torch.cat(labels, dim=1))


def _min_size_filter(boxes: Tensor, scores: Tensor, min_size: float,
                     fill: float = 0.0) -> Tensor:
    """mmdet's ``min_bbox_size``: scores of boxes not wider and higher
    than ``min_size`` become ``fill``."""
    width = boxes[..., 2] - boxes[..., 0]
    height = boxes[..., 3] - boxes[..., 1]
    valid = (width > min_size) & (height > min_size)
    return torch.where(valid, scores, torch.full_like(scores, fill))


class SingleStagePost(nn.Module):
    """Post-processing of a single-stage detector's dense head."""

    def __init__(self, detector):
        super().__init__()
        head = detector.bbox_head
        where = f'{_cls_name(detector)} with {_cls_name(head)}'
        from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
        if not isinstance(head, BaseDenseHead) or not hasattr(
                head, 'prior_generator') or not hasattr(head, 'bbox_coder'):
            raise UnsupportedDetectorError(
                f'{where}: the head is not a dense head with a prior '
                'generator and a box coder')
        cfg = head.test_cfg
        if cfg is None:
            raise UnsupportedDetectorError(f'{where}: the head has no '
                                           'test_cfg')
        self.head = head
        self.where = where
        self.candidates = DenseCandidates(head, cfg, where)
        self.score_thr = float(cfg.get('score_thr', 0.0))
        self.min_bbox_size = float(cfg.get('min_bbox_size', -1))
        self.iou_thr, self.class_agnostic = _check_nms(cfg, where)
        self.max_per_img = int(cfg.get('max_per_img', 100))
        if self.max_per_img <= 0:
            raise UnsupportedDetectorError(
                f'{where}: test_cfg.max_per_img must be > 0 for a '
                f'fixed-size output, got {self.max_per_img}')

    def forward(self, feats: Sequence[Tensor], image_hw: Tensor):
        outs = self.head(feats)
        if len(outs) != 2:
            raise UnsupportedDetectorError(
                f'{self.where}: the head returns {len(outs)} outputs '
                '(score factors such as centerness or objectness are not '
                'exported); only (cls_scores, bbox_preds) heads are')
        boxes, scores, labels = self.candidates(outs[0], outs[1], image_hw)
        if self.min_bbox_size >= 0:
            scores = _min_size_filter(boxes, scores, self.min_bbox_size)
        return nms_top_k(boxes, scores, labels, self.iou_thr,
                         self.score_thr, self.max_per_img,
                         self.class_agnostic)


class TwoStagePost(nn.Module):
    """Post-processing of a Faster R-CNN style detector: RPN proposals
    (per-level NMS), multi-level RoIAlign, the box head, per-class
    decoding and NMS."""

    def __init__(self, detector):
        super().__init__()
        from mmdet.models.dense_heads import RPNHead
        from mmdet.models.roi_heads import StandardRoIHead
        from mmdet.models.roi_heads.bbox_heads import BBoxHead
        from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
        rpn, roi = detector.rpn_head, detector.roi_head
        where = f'{_cls_name(detector)} with {_cls_name(rpn)} + ' \
            f'{_cls_name(roi)}'
        if not isinstance(rpn, RPNHead):
            raise UnsupportedDetectorError(
                f'{where}: the proposal head must be an RPNHead')
        if type(roi) is not StandardRoIHead:
            raise UnsupportedDetectorError(
                f'{where}: only StandardRoIHead is exported (cascades and '
                'other RoI heads are not)')
        if roi.with_mask or getattr(roi, 'with_shared_head', False):
            raise UnsupportedDetectorError(
                f'{where}: RoI heads with masks or a shared head are not '
                'exported (boxes only)')
        extractor, box_head = roi.bbox_roi_extractor, roi.bbox_head
        if type(extractor) is not SingleRoIExtractor:
            raise UnsupportedDetectorError(
                f'{where}: RoI extractor {_cls_name(extractor)} is not '
                'supported (SingleRoIExtractor)')
        layer = extractor.roi_layers[0]
        if getattr(layer, 'pool_mode', 'avg') != 'avg' or not hasattr(
                layer, 'output_size'):
            raise UnsupportedDetectorError(
                f'{where}: RoI layer {_cls_name(layer)} is not supported '
                "(RoIAlign with pool_mode='avg')")
        if not isinstance(box_head, BBoxHead) or getattr(
                box_head, 'custom_cls_channels', False):
            raise UnsupportedDetectorError(
                f'{where}: box head {_cls_name(box_head)} is not supported')
        rpn_cfg, rcnn_cfg = rpn.test_cfg, roi.test_cfg
        if rpn_cfg is None or rcnn_cfg is None:
            raise UnsupportedDetectorError(f'{where}: test_cfg.rpn and '
                                           'test_cfg.rcnn are needed')
        self.where = where
        self.rpn = rpn
        self.proposals = DenseCandidates(rpn, rpn_cfg, where,
                                         level_labels=True)
        self.rpn_iou, _ = _check_nms(rpn_cfg, where + ' (rpn)')
        self.rpn_min_size = float(rpn_cfg.get('min_bbox_size', -1))
        self.num_proposals = int(rpn_cfg.get('max_per_img', 1000))
        self.extractor = extractor
        size = layer.output_size
        self.roi_size = int(size[0] if isinstance(size, (tuple, list))
                            else size)
        self.sampling_ratio = int(layer.sampling_ratio)
        self.aligned = bool(layer.aligned)
        self.box_head = box_head
        self.decoder = BoxDecoder(box_head.bbox_coder, where)
        self.num_classes = int(box_head.num_classes)
        self.score_thr = float(rcnn_cfg.get('score_thr', 0.0))
        self.iou_thr, self.class_agnostic = _check_nms(rcnn_cfg, where)
        self.max_per_img = int(rcnn_cfg.get('max_per_img', 100))

    def extract_rois(self, feats: Sequence[Tensor], rois: Tensor,
                     batch_indices: Tensor) -> Tensor:
        """mmdet's ``SingleRoIExtractor``: each RoI pooled from the level
        its scale maps to."""
        strides = self.extractor.featmap_strides
        num_levels = len(strides)
        pooled = [
            torch.ops.mmshuffle.roi_align(
                feats[i], rois, batch_indices, self.roi_size,
                1.0 / float(strides[i]), self.sampling_ratio, self.aligned)
            for i in range(num_levels)
        ]
        if num_levels == 1:
            return pooled[0]
        scale = torch.sqrt((rois[:, 2] - rois[:, 0]) *
                           (rois[:, 3] - rois[:, 1]))
        level = torch.floor(
            torch.log2(scale / self.extractor.finest_scale + 1e-6))
        level = level.clamp(min=0, max=num_levels - 1)
        out = torch.zeros_like(pooled[0])
        for i, feat in enumerate(pooled):
            out = torch.where((level == i)[:, None, None, None], feat, out)
        return out

    def forward(self, feats: Sequence[Tensor], image_hw: Tensor):
        cls_scores, bbox_preds = self.rpn(feats)
        boxes, scores, levels = self.proposals(cls_scores, bbox_preds,
                                               image_hw)
        if self.rpn_min_size >= 0:
            scores = _min_size_filter(boxes, scores, self.rpn_min_size)
        # proposals: per-level NMS (labels are levels), top max_per_img
        dets, _ = nms_top_k(boxes, scores, levels, self.rpn_iou, 0.0,
                            self.num_proposals)
        num, count = dets.shape[0], dets.shape[1]
        proposals = dets[..., :4].reshape(-1, 4)
        valid = (dets[..., 4] > 0).reshape(-1)
        batch_indices = torch.arange(
            num, device=dets.device)[:, None].expand(num, count).reshape(-1)
        roi_feats = self.extract_rois(feats, proposals, batch_indices)
        cls_score, bbox_pred = self.box_head(roi_feats)
        prob = F.softmax(cls_score, dim=-1)[:, :self.num_classes]
        classes = self.num_classes
        deltas = bbox_pred.reshape(bbox_pred.shape[0], -1, 4)
        if deltas.shape[1] == 1:  # class-agnostic regression
            deltas = deltas.expand(-1, classes, -1)
        boxes = self.decoder(proposals[:, None, :].expand(-1, classes, -1),
                             deltas, image_hw)
        prob = torch.where(valid[:, None], prob, torch.zeros_like(prob))
        labels = torch.arange(classes, device=prob.device)[None].expand(
            prob.shape[0], classes)
        return nms_top_k(
            boxes.reshape(num, -1, 4), prob.reshape(num, -1),
            labels.reshape(num, -1), self.iou_thr, self.score_thr,
            self.max_per_img, self.class_agnostic)


def build_postprocess(detector: nn.Module) -> nn.Module:
    """The in-graph post-processing of ``detector``, chosen by its mmdet
    classes; :class:`UnsupportedDetectorError` for anything else."""
    from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
    if isinstance(detector, TwoStageDetector):
        if not detector.with_rpn:
            raise UnsupportedDetectorError(
                f'{_cls_name(detector)} without an RPN is not exported')
        return TwoStagePost(detector)
    if isinstance(detector, SingleStageDetector):
        return SingleStagePost(detector)
    raise UnsupportedDetectorError(
        f'{_cls_name(detector)} is not supported: single-stage detectors '
        '(RetinaNet, SSD, RTMDet, ...) and two-stage detectors with an RPN '
        '(Faster R-CNN) export end to end')


def size_divisor(detector: nn.Module) -> int:
    """The multiple the input's H and W must be: the data preprocessor's
    ``pad_size_divisor``, at least the backbone's largest stride."""
    pre = getattr(detector, 'data_preprocessor', None)
    divisor = int(getattr(pre, 'pad_size_divisor', 1) or 1)
    strides = getattr(detector.backbone, 'out_strides', None) or (32, )
    largest = int(max(strides))
    return divisor * largest // math.gcd(divisor, largest)


class DetectorForExport(nn.Module):
    """An mmdet detector as ``image tensor -> (dets, labels)``; see the
    module docstring.

    Args:
        detector (nn.Module): the mmdet detector (eval mode is set).
        raw_input (bool): fold the data preprocessor's channel conversion
            and normalisation in (input: 0-255 pixels in the pipeline's
            channel order).
    """

    def __init__(self, detector: nn.Module, raw_input: bool = False):
        super().__init__()
        if not isinstance(raw_input, bool):
            raise TypeError(f'raw_input must be a bool, got {raw_input!r}')
        self.detector = detector.eval()
        self.post = build_postprocess(detector)
        self.raw_input = raw_input
        pre = detector.data_preprocessor
        self.channel_flip = bool(getattr(pre, '_channel_conversion', False))
        normalize = bool(getattr(pre, '_enable_normalize', False))
        mean = pre.mean.reshape(1, -1, 1, 1).float() if normalize else \
            torch.zeros(1, 3, 1, 1)
        std = pre.std.reshape(1, -1, 1, 1).float() if normalize else \
            torch.ones(1, 3, 1, 1)
        self.register_buffer('mean', mean.clone(), persistent=False)
        self.register_buffer('std', std.clone(), persistent=False)
        self.size_divisor = size_divisor(detector)

    def metadata(self) -> Dict[str, str]:
        """What a runtime needs to feed the graph and read its outputs."""
        import json
        meta = getattr(self.detector, 'dataset_meta', None) or {}
        classes = list(meta.get('classes', ()))
        return {
            'task': 'detection',
            'raw_input': json.dumps(self.raw_input),
            'mean': json.dumps([round(v, 6) for v in
                                self.mean.flatten().tolist()]),
            'std': json.dumps([round(v, 6) for v in
                               self.std.flatten().tolist()]),
            'bgr_to_rgb': json.dumps(self.channel_flip),
            'size_divisor': str(self.size_divisor),
            'classes': json.dumps(classes),
            'max_per_img': str(self.post.max_per_img),
            'score_thr': str(self.post.score_thr),
        }

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        if self.raw_input:
            if self.channel_flip:
                x = x.flip(1)
            x = (x - self.mean) / self.std
        one = x.new_ones(())
        image_hw = torch.stack([one * x.shape[2], one * x.shape[3]])
        feats = self.detector.extract_feat(x)
        return self.post(feats, image_hw)


# ----------------------------------------------------------------------
# export and checks
# ----------------------------------------------------------------------
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
                    extra_metadata: Optional[Dict[str, str]] = None) -> str:
    """Export ``wrapped`` to ``path`` (written atomically): input ``input``
    (N, 3, H, W) with H and W dynamic multiples of its ``size_divisor``
    (``shape`` is the example size; N dynamic with ``dynamic_batch``),
    outputs ``dets`` and ``labels``. The detector is switched to its deploy
    form (BatchNorm folded) in place. The example is traced at no less than
    twice the head's largest prior stride per side: a feature map of size
    1 would be fixed in the graph (torch.export specialises sizes 0 and 1),
    and the file would then fail at other sizes.

    Raises:
        ValueError: bad ``shape``/``opset``, or the graph uses an operator
            outside the standard ONNX domain.
    """
    from mmshuffle.engine.fileio import atomic_write

    from .fuse import switch_to_deploy
    from .onnx import STANDARD_DOMAINS, _require
    _require('onnx')
    _require('onnxscript')
    import onnx
    if not isinstance(wrapped, DetectorForExport):
        raise TypeError('export_detector expects a DetectorForExport, got '
                        f'{_cls_name(wrapped)}')
    divisor = wrapped.size_divisor
    shape = check_detection_shape(shape, divisor)
    if not isinstance(opset, int) or isinstance(opset, bool) or not \
            18 <= opset <= 23:
        raise ValueError(f'opset must be an int in [18, 23], got {opset!r}')
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
    if dynamic_batch:
        dims[0] = torch.export.Dim('batch', min=1, max=1024)
    with torch.no_grad():
        wrapped(example)  # a head that cannot be exported fails here, plainly
    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        program = torch.onnx.export(
            wrapped, (example, ),
            dynamo=True,
            input_names=['input'],
            output_names=['dets', 'labels'],
            opset_version=opset,
            dynamic_shapes=(dims, ),
            custom_translation_table=ops.onnx_translations(),
            verbose=False)
        program.optimize()
    proto = program.model_proto
    foreign = sorted({
        f'{node.domain}::{node.op_type}'
        for node in proto.graph.node if node.domain not in STANDARD_DOMAINS
    })
    if foreign:
        raise ValueError('the exported graph uses operators outside the '
                         f'standard ONNX domain: {foreign}')
    meta = dict(wrapped.metadata())
    meta.update(extra_metadata or {})
    set_metadata(proto, meta)
    onnx.checker.check_model(proto)
    atomic_write(proto.SerializeToString(), path)
    return path


def set_metadata(proto, meta: Dict[str, str]) -> None:
    """Write ``meta`` into an ONNX model's ``metadata_props`` (keys
    prefixed ``mmshuffle.``), replacing earlier values."""
    keys = {META_PREFIX + k for k in meta}
    kept = [p for p in proto.metadata_props if p.key not in keys]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key = META_PREFIX + key
        entry.value = str(value)


def read_metadata(path: str) -> Dict[str, str]:
    """The ``mmshuffle.*`` metadata of an exported ONNX file (an empty
    dict for files without any)."""
    import onnx
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path!r} does not exist')
    proto = onnx.load(path, load_external_data=False)
    return {
        p.key[len(META_PREFIX):]: p.value
        for p in proto.metadata_props if p.key.startswith(META_PREFIX)
    }


# ----------------------------------------------------------------------
# the detector's own predictions, and comparing detections
# ----------------------------------------------------------------------
@torch.no_grad()
def predict_reference(detector: nn.Module, inputs: Tensor) -> List[Dict]:
    """mmdet's predict path on normalised ``inputs`` (N, 3, H, W): the
    detector's own boxes in input pixels (``rescale=False``), as dicts of
    numpy ``bboxes``/``scores``/``labels``."""
    from mmdet.structures import DetDataSample
    height, width = inputs.shape[2:]
    samples = [
        DetDataSample(metainfo=dict(img_shape=(height, width),
                                    ori_shape=(height, width),
                                    pad_shape=(height, width),
                                    batch_input_shape=(height, width),
                                    scale_factor=(1.0, 1.0)))
        for _ in range(inputs.shape[0])
    ]
    results = detector.predict(inputs, samples, rescale=False)
    return [
        dict(bboxes=r.pred_instances.bboxes.numpy(),
             scores=r.pred_instances.scores.numpy(),
             labels=r.pred_instances.labels.numpy()) for r in results
    ]


def split_detections(dets, labels) -> List[Dict]:
    """An exported graph's ``dets`` (N, K, 5) and ``labels`` (N, K) as one
    dict of numpy ``bboxes``/``scores``/``labels`` per image, padding rows
    dropped."""
    import numpy as np
    dets, labels = np.asarray(dets), np.asarray(labels)
    out = []
    for det, label in zip(dets, labels):
        valid = det[:, 4] > 0
        out.append(dict(bboxes=det[valid, :4], scores=det[valid, 4],
                        labels=label[valid].astype(np.int64)))
    return out


def compare_detections(reference: Sequence[Dict], outputs: Sequence[Dict],
                       box_tol: float = 0.05,
                       score_tol: float = 1e-4) -> Dict:
    """Match each reference detection to an output detection of the same
    class whose box (max abs coordinate difference) is within ``box_tol``
    pixels and score within ``score_tol``.

    A detection left unmatched on either side is a *cut tie* when its
    score is within ``score_tol`` of the lowest score kept for that image
    (on either side): where candidates score alike at the top-K or
    threshold cut, rounding decides which ones make it, in any two
    implementations.

    Returns:
        dict: ``reference``/``outputs`` (counts), ``matched``,
        ``cut_ties`` (unmatched ones at the cut), ``max_box_diff`` /
        ``max_score_diff`` over the matches, and ``ok`` (every detection
        on both sides matched or a cut tie).
    """
    import numpy as np
    total_ref = total_out = matched = ties = unexplained = 0
    box_diff = score_diff = 0.0
    for ref, out in zip(reference, outputs):
        total_ref += len(ref['scores'])
        total_out += len(out['scores'])
        used = np.zeros(len(out['scores']), dtype=bool)
        ref_used = np.zeros(len(ref['scores']), dtype=bool)
        for i, (box, score, label) in enumerate(
                zip(ref['bboxes'], ref['scores'], ref['labels'])):
            if not len(out['scores']):
                break
            diff = np.abs(out['bboxes'] - box[None]).max(axis=1)
            diff = np.where((out['labels'] == label) & ~used, diff, np.inf)
            best = int(diff.argmin())
            if diff[best] <= box_tol and \
                    abs(out['scores'][best] - score) <= score_tol:
                used[best] = ref_used[i] = True
                matched += 1
                box_diff = max(box_diff, float(diff[best]))
                score_diff = max(score_diff,
                                 float(abs(out['scores'][best] - score)))
        left = np.concatenate([ref['scores'][~ref_used],
                               out['scores'][~used]])
        if len(left):
            lowest = min(
                [float(x['scores'].min()) for x in (ref, out)
                 if len(x['scores'])])
            at_cut = left <= lowest + score_tol
            ties += int(at_cut.sum())
            unexplained += int((~at_cut).sum())
    return dict(reference=total_ref, outputs=total_out, matched=matched,
                cut_ties=ties, max_box_diff=box_diff,
                max_score_diff=score_diff, ok=unexplained == 0)
