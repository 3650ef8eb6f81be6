"""The building blocks of an exported detector's post-processing, in
standard ONNX operators: priors for any feature-map size, box decoding,
per-level candidate selection and per-class NMS with the top K.

Each follows mmdet 3.3's ``predict`` path step by step, so that the graph's
boxes equal the detector's own predictions; :mod:`.graph` assembles them
per detector kind.
"""
import math
from typing import Sequence, Tuple

import torch
from torch import Tensor, nn

from .. import ops  # noqa: F401  (registers torch.ops.mmshuffle.*)


class UnsupportedDetectorError(ValueError):
    """The detector (or one of its heads) has no end-to-end export."""


def cls_name(obj) -> str:
    return type(obj).__name__


def check_nms(cfg, where: str) -> Tuple[float, bool]:
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
                f'{where}: prior generator {cls_name(generator)} is not '
                'supported (AnchorGenerator and its subclasses, or '
                'MlvlPointGenerator)')

    def describe(self) -> dict:
        """What :func:`.host.host_candidates` needs to make the same
        priors in numpy."""
        out = dict(kind=self.kind, strides=[list(s) for s in self.strides],
                   offset=self.offset)
        if self.kind == 'anchor':
            out['base_anchors'] = [
                getattr(self, f'base{i}').tolist()
                for i in range(len(self.strides))]
        return out

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
    """Clip ``x1, y1, x2, y2`` boxes to ``[0, W] x [0, H]``: one ``(H, W)``
    for all boxes, or one per image (``image_hw`` (N, 2), boxes (N, ...,
    4)), as mmdet clips each image's boxes to its ``img_shape``."""
    limit = image_hw.to(boxes.dtype)[..., [1, 0, 1, 0]]
    if limit.dim() == 2:
        limit = limit.reshape(limit.shape[0], *[1] * (boxes.dim() - 2), 4)
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
                f'{where}: box coder {cls_name(coder)} is not supported '
                '(DeltaXYWHBBoxCoder or DistancePointBBoxCoder)')

    def describe(self) -> dict:
        """What :func:`.host.host_candidates` needs to decode as
        :meth:`forward` does, in numpy."""
        if self.kind == 'distance':
            return dict(kind='distance', clip_border=self.clip_border)
        return dict(kind='delta', clip_border=self.clip_border,
                    means=self.means.tolist(), stds=self.stds.tolist(),
                    add_ctr_clamp=self.add_ctr_clamp,
                    ctr_clamp=self.ctr_clamp, max_ratio=self.max_ratio)

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

    def describe(self) -> dict:
        """The settings :func:`.host.host_candidates` selects with."""
        return dict(priors=self.priors.describe(),
                    coder=self.decoder.describe(),
                    use_sigmoid=self.use_sigmoid,
                    cls_channels=self.cls_channels, nms_pre=self.nms_pre)

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


def min_size_filter(boxes: Tensor, scores: Tensor, min_size: float,
                     fill: float = 0.0) -> Tensor:
    """mmdet's ``min_bbox_size``: scores of boxes not wider and higher
    than ``min_size`` become ``fill``."""
    width = boxes[..., 2] - boxes[..., 0]
    height = boxes[..., 3] - boxes[..., 1]
    valid = (width > min_size) & (height > min_size)
    return torch.where(valid, scores, torch.full_like(scores, fill))


