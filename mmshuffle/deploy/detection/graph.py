"""An mmdet detector as one graph: image tensor in, final boxes out.

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
:func:`mmshuffle.deploy.detection.compare_detections`).

With ``raw_input=True`` the data preprocessor's channel conversion and
normalisation are folded in: the graph takes 0-255 pixels in the channel
order the config's pipeline loads them (BGR for ``LoadImageFromFile``).
The input's H and W must be multiples of :attr:`size_divisor` (the
preprocessor's ``pad_size_divisor``, at least the backbone's largest
stride); pad with the mean colour (0 after normalisation) as the data
preprocessor does.
"""
import json
import math
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmshuffle.models.utils import check_bool

from .postprocess import (BoxDecoder, DenseCandidates,
                          UnsupportedDetectorError, check_nms, cls_name,
                          min_size_filter, nms_top_k)


class SingleStagePost(nn.Module):
    """Post-processing of a single-stage detector's dense head."""

    def __init__(self, detector):
        super().__init__()
        head = detector.bbox_head
        where = f'{cls_name(detector)} with {cls_name(head)}'
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
        self.iou_thr, self.class_agnostic = check_nms(cfg, where)
        self.max_per_img = int(cfg.get('max_per_img', 100))
        if self.max_per_img <= 0:
            raise UnsupportedDetectorError(
                f'{where}: test_cfg.max_per_img must be > 0 for a '
                f'fixed-size output, got {self.max_per_img}')

    def forward(self, feats: Sequence[Tensor], image_hw: Tensor,
                host_nms: bool = False):
        """Final ``(dets, labels)``; with ``host_nms`` the candidates
        before NMS instead: ``(boxes, scores, labels)``, scores 0 at or
        below the threshold (:mod:`.host` finishes them)."""
        return self.finish(self.head(feats), image_hw, host_nms)

    def finish(self, outs, image_hw: Tensor, host_nms: bool = False):
        """:meth:`forward` from the head's outputs ``(cls_scores,
        bbox_preds)``."""
        if len(outs) != 2:
            raise UnsupportedDetectorError(
                f'{self.where}: the head returns {len(outs)} outputs '
                '(score factors such as centerness or objectness are not '
                'exported); only (cls_scores, bbox_preds) heads are')
        boxes, scores, labels = self.candidates(outs[0], outs[1], image_hw)
        if host_nms:
            return boxes, torch.where(scores > self.score_thr, scores,
                                      torch.zeros_like(scores)), labels
        if self.min_bbox_size >= 0:
            scores = min_size_filter(boxes, scores, self.min_bbox_size)
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
        where = f'{cls_name(detector)} with {cls_name(rpn)} + ' \
            f'{cls_name(roi)}'
        if not isinstance(rpn, RPNHead):
            raise UnsupportedDetectorError(
                f'{where}: the proposal head must be an RPNHead')
        from mmshuffle.models.roi_heads import (LightHeadRoIHead,
                                                PSRoIAlignExtractor)
        if type(roi) not in (StandardRoIHead, LightHeadRoIHead):
            raise UnsupportedDetectorError(
                f'{where}: only StandardRoIHead and LightHeadRoIHead are '
                'exported (cascades and other RoI heads are not)')
        if roi.with_mask or getattr(roi, 'with_shared_head', False):
            raise UnsupportedDetectorError(
                f'{where}: RoI heads with masks or a shared head are not '
                'exported (boxes only)')
        extractor, box_head = roi.bbox_roi_extractor, roi.bbox_head
        self.position_sensitive = isinstance(extractor, PSRoIAlignExtractor)
        if self.position_sensitive:
            layer = extractor  # output_size, sampling_ratio
        elif type(extractor) is not SingleRoIExtractor:
            raise UnsupportedDetectorError(
                f'{where}: RoI extractor {cls_name(extractor)} is not '
                'supported (SingleRoIExtractor, PSRoIAlignExtractor)')
        else:
            layer = extractor.roi_layers[0]
        if getattr(layer, 'pool_mode', 'avg') != 'avg' or not hasattr(
                layer, 'output_size'):
            raise UnsupportedDetectorError(
                f'{where}: RoI layer {cls_name(layer)} is not supported '
                "(RoIAlign with pool_mode='avg')")
        if not isinstance(box_head, BBoxHead) or getattr(
                box_head, 'custom_cls_channels', False):
            raise UnsupportedDetectorError(
                f'{where}: box head {cls_name(box_head)} is not supported')
        rpn_cfg, rcnn_cfg = rpn.test_cfg, roi.test_cfg
        if rpn_cfg is None or rcnn_cfg is None:
            raise UnsupportedDetectorError(f'{where}: test_cfg.rpn and '
                                           'test_cfg.rcnn are needed')
        self.where = where
        self.rpn = rpn
        self.proposals = DenseCandidates(rpn, rpn_cfg, where,
                                         level_labels=True)
        self.rpn_iou, _ = check_nms(rpn_cfg, where + ' (rpn)')
        self.rpn_min_size = float(rpn_cfg.get('min_bbox_size', -1))
        self.num_proposals = int(rpn_cfg.get('max_per_img', 1000))
        self.extractor = extractor
        size = layer.output_size
        self.roi_size = int(size[0] if isinstance(size, (tuple, list))
                            else size)
        self.sampling_ratio = int(layer.sampling_ratio)
        # torchvision's ps_roi_align uses half-pixel coordinates
        self.aligned = True if self.position_sensitive else \
            bool(layer.aligned)
        self.box_head = box_head
        self.decoder = BoxDecoder(box_head.bbox_coder, where)
        self.num_classes = int(box_head.num_classes)
        self.score_thr = float(rcnn_cfg.get('score_thr', 0.0))
        self.iou_thr, self.class_agnostic = check_nms(rcnn_cfg, where)
        self.max_per_img = int(rcnn_cfg.get('max_per_img', 100))

    def extract_rois(self, feats: Sequence[Tensor], rois: Tensor,
                     batch_indices: Tensor) -> Tensor:
        """mmdet's ``SingleRoIExtractor``: each RoI pooled from the level
        its scale maps to; or the light head's position-sensitive RoIAlign."""
        if self.position_sensitive:
            return self.extract_ps_rois(feats, rois, batch_indices)
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

    def extract_ps_rois(self, feats: Sequence[Tensor], rois: Tensor,
                        batch_indices: Tensor) -> Tensor:
        """Position-sensitive RoIAlign in standard operators: bin
        ``(i, j)`` of a RoI is an ordinary RoIAlign of one bin (the RoI's
        ``(i, j)`` sub-box, the same sample points) over that bin's channel
        group of the thin map. 49 small RoIAligns read as many samples as
        the position-sensitive one; one RoIAlign of every channel over
        every bin would read 49 times as many."""
        extractor = self.extractor
        thin = extractor.thin_map(feats)
        size, bins = self.roi_size, self.roi_size**2
        x1, y1, x2, y2 = rois.unbind(1)
        bin_w, bin_h = (x2 - x1) / size, (y2 - y1) / size
        pooled = []
        for i in range(size):
            for j in range(size):
                sub = torch.stack([
                    x1 + j * bin_w, y1 + i * bin_h, x1 + (j + 1) * bin_w,
                    y1 + (i + 1) * bin_h
                ], dim=1)
                pooled.append(
                    torch.ops.mmshuffle.roi_align(
                        thin[:, i * size + j::bins], sub, batch_indices, 1,
                        extractor.spatial_scale, self.sampling_ratio, True))
        out = torch.cat(pooled, dim=2)  # (R, C, p * p, 1)
        return out.reshape(out.shape[0], out.shape[1], size, size)

    def forward(self, feats: Sequence[Tensor], image_hw: Tensor):
        cls_scores, bbox_preds = self.rpn(feats)
        boxes, scores, levels = self.proposals(cls_scores, bbox_preds,
                                               image_hw)
        if self.rpn_min_size >= 0:
            scores = min_size_filter(boxes, scores, self.rpn_min_size)
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
        if image_hw.dim() == 2:  # per image: the limits of each RoI's
            image_hw = image_hw[batch_indices]
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
                f'{cls_name(detector)} without an RPN is not exported')
        return TwoStagePost(detector)
    if isinstance(detector, SingleStageDetector):
        return SingleStagePost(detector)
    raise UnsupportedDetectorError(
        f'{cls_name(detector)} is not supported: single-stage detectors '
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


class DenseNetwork(nn.Module):
    """A single-stage detector's network: the normalised image ->
    ``cls_scores + bbox_preds`` (one flat tuple, level by level)."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs = self.detector.bbox_head(self.detector.extract_feat(x))
        if len(outs) != 2:
            raise UnsupportedDetectorError(
                f'{cls_name(self.detector.bbox_head)} returns {len(outs)} '
                'outputs (score factors such as centerness or objectness '
                'are not exported); only (cls_scores, bbox_preds) heads are')
        return tuple(outs[0]) + tuple(outs[1])


class DetectorForExport(nn.Module):
    """An mmdet detector as ``image tensor -> (dets, labels)``; see the
    module docstring.

    Args:
        detector (nn.Module): the mmdet detector (eval mode is set).
        raw_input (bool): fold the data preprocessor's channel conversion
            and normalisation in (input: 0-255 pixels in the pipeline's
            channel order).
        image_hw_input (bool): take a second input ``image_hw`` (N, 2):
            each image's valid height and width in a padded batch; its
            boxes are clipped to them before NMS, as mmdet clips to each
            ``img_shape``. Without it, boxes are clipped to the input
            tensor (the same for images that fill it).
        nms (str): ``'graph'``: NMS and the top K inside the graph (needs
            :mod:`mmshuffle.deploy.ops`' ``nms_keep``, which ONNX has);
            ``'host'``: the graph returns the candidates before NMS and
            :func:`.host.host_nms` finishes them (for runtimes without an
            NMS kernel: ExecuTorch). Single-stage detectors only.
        decode (str): ``'graph'``; or ``'host'`` (with ``nms='host'``):
            the graph is the network alone, returning the head's maps
            (``cls_scores`` then ``bbox_preds``, level by level), and
            :func:`.host.host_candidates` decodes and selects on the host
            (for runtimes without top-K: ncnn).
    """

    def __init__(self, detector: nn.Module, raw_input: bool = False,
                 image_hw_input: bool = False, nms: str = 'graph',
                 decode: str = 'graph'):
        super().__init__()
        check_bool('raw_input', raw_input)
        check_bool('image_hw_input', image_hw_input)
        if nms not in ('graph', 'host'):
            raise ValueError(f"nms must be 'graph' or 'host', got {nms!r}")
        if decode not in ('graph', 'host') or (decode == 'host' and
                                               nms != 'host'):
            raise ValueError("decode must be 'graph', or 'host' with "
                             f"nms='host', got decode={decode!r}, "
                             f'nms={nms!r}')
        self.detector = detector.eval()
        self.post = build_postprocess(detector)
        if nms == 'host' and not isinstance(self.post, SingleStagePost):
            raise UnsupportedDetectorError(
                f'{self.post.where}: a two-stage detector needs NMS and '
                'RoIAlign between its stages, which a program with NMS on '
                "the host cannot have (nms='host' exports single-stage "
                'detectors)')
        if nms == 'host' and image_hw_input:
            raise ValueError("image_hw_input does not apply with nms='host' "
                             '(the host clips each image\'s boxes)')
        self.nms, self.decode = nms, decode
        if nms == 'host':  # the network alone, for INT8 to quantize
            self.dense = DenseNetwork(detector)
        self.raw_input = raw_input
        self.image_hw_input = image_hw_input
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
        """What a runtime needs to feed the graph and read its outputs
        (:mod:`mmshuffle.deploy.metadata`; the exporter adds the config's
        pipeline, classes and names)."""
        from ..metadata import preprocessor_metadata
        classes = (getattr(self.detector, 'dataset_meta', None) or {}).get(
            'classes', ())
        meta = {
            'task': 'detection',
            'raw_input': json.dumps(self.raw_input),
            **preprocessor_metadata(self.detector.data_preprocessor),
            'size_divisor': str(self.size_divisor),
            'image_hw_input': json.dumps(self.image_hw_input),
            'classes': json.dumps(list(classes)),
            'max_per_img': str(self.post.max_per_img),
            'score_thr': str(self.post.score_thr),
            'iou_thr': str(self.post.iou_thr),
        }
        if self.nms == 'graph':
            meta['outputs'] = json.dumps({
                'dets': 'N x K x 5 float32: x1, y1, x2, y2 in the input '
                "tensor's pixels, score; rows past the image's detections "
                'have score 0',
                'labels': 'N x K int64: class index, -1 in padding rows'})
            return meta
        meta.update(
            nms='host', min_bbox_size=str(self.post.min_bbox_size),
            class_agnostic=json.dumps(self.post.class_agnostic))
        if self.decode == 'host':
            levels = len(self.post.candidates.priors.strides)
            meta.update(
                decode='host', head=json.dumps(
                    self.post.candidates.describe()),
                outputs=json.dumps({
                    **{f'cls{i}': "N x A*C x h x w: level i's class logits"
                       for i in range(levels)},
                    **{f'reg{i}': "N x A*4 x h x w: level i's box "
                       'regression' for i in range(levels)}}))
            return meta
        meta.update(
            outputs=json.dumps({
                'boxes': 'N x M x 4 float32: candidates before NMS, x1, y1, '
                "x2, y2 in the input tensor's pixels",
                'scores': 'N x M float32, 0 at or below score_thr',
                'labels': 'N x M int64: class index'}))
        return meta

    def forward(self, x: Tensor,
                image_hw: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """``x`` (N, 3, H, W) -> ``dets`` (N, K, 5), ``labels`` (N, K);
        ``image_hw`` (N, 2) with ``image_hw_input`` (required then)."""
        if self.image_hw_input != (image_hw is not None):
            raise ValueError('image_hw must be given exactly when the '
                             'wrapper takes it (image_hw_input='
                             f'{self.image_hw_input})')
        if self.raw_input:
            if self.channel_flip:
                x = x.flip(1)
            x = (x - self.mean) / self.std
        if image_hw is None:
            one = x.new_ones(())
            image_hw = torch.stack([one * x.shape[2], one * x.shape[3]])
        else:
            image_hw = image_hw.to(x.dtype)
        if self.decode == 'host':
            return self.dense(x)
        if self.nms == 'host':
            outs = self.dense(x)
            half = len(outs) // 2
            return self.post.finish((outs[:half], outs[half:]), image_hw,
                                    host_nms=True)
        return self.post(self.detector.extract_feat(x), image_hw)


