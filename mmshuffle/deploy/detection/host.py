"""The host side of a detector whose program stops before NMS (numpy only).

Runtimes without an NMS kernel (ExecuTorch's portable and XNNPACK kernels
have none) run a detector exported with ``nms='host'``: the program holds
the network, the box decoding, the per-level top ``nms_pre`` and the score
threshold, and returns its candidates::

    boxes (N, M, 4) float32, scores (N, M) float32 (0 below the threshold),
    labels (N, M) int64

:func:`host_nms` finishes them as the in-graph post-processing does (and
mmdet's ``predict``): clip to each image, ``min_bbox_size``, greedy NMS
per class (as mmcv's ``batched_nms``) and the top
``max_per_img``, into the same ``dets`` (N, K, 5) / ``labels`` (N, K)
layout as an end-to-end graph's (padding rows: score 0, label -1).

A runtime without top-K either (ncnn) runs the network alone (metadata
``decode: host``): :func:`host_candidates` turns the head's maps into the
same candidates, with the priors, box coder and selection its metadata
``head`` describes (:class:`~.postprocess.DenseCandidates`).

This module imports numpy alone, so a host without torch can ship it.
"""
import json
from typing import Dict, Optional, Sequence, Tuple

import numpy as np


class _Overlaps:
    """IoU of one box against others, in float32 as torchvision's CPU
    ``nms`` kernel computes it."""

    def __init__(self, boxes: np.ndarray, iou_threshold: float):
        boxes = np.asarray(boxes, np.float32)
        self.x1, self.y1, self.x2, self.y2 = (boxes[:, i] for i in range(4))
        self.areas = (self.x2 - self.x1) * (self.y2 - self.y1)
        self.threshold = np.float32(iou_threshold)

    def survivors(self, i: int, rest: np.ndarray) -> np.ndarray:
        """The indices of ``rest`` whose IoU with box ``i`` is not above
        the threshold."""
        width = np.maximum(np.float32(0), np.minimum(self.x2[i], self.x2[rest])
                           - np.maximum(self.x1[i], self.x1[rest]))
        height = np.maximum(np.float32(0), np.minimum(self.y2[i],
                                                      self.y2[rest])
                            - np.maximum(self.y1[i], self.y1[rest]))
        inter = width * height
        return rest[~(inter / (self.areas[i] + self.areas[rest] - inter) >
                      self.threshold)]


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
               max_output: int) -> np.ndarray:
    """torchvision's ``nms`` in numpy (float32 arithmetic as its CPU
    kernel): indices of the kept boxes by descending score (stable for
    equal scores), at most ``max_output``. A box is dropped when its IoU
    with a kept, higher-scoring box is above ``iou_threshold``."""
    overlaps = _Overlaps(boxes, iou_threshold)
    remaining = np.argsort(-np.asarray(scores, np.float32), kind='stable')
    keep = []
    while remaining.size and len(keep) < max_output:
        i, rest = remaining[0], remaining[1:]
        keep.append(i)
        remaining = overlaps.survivors(i, rest)
    return np.asarray(keep, np.int64)


def _nms(box, score, label, index, iou_thr, top_k, agnostic):
    """The kept candidates among ``index``, by descending score (equal
    scores in candidate order), at most ``top_k``: greedy NMS in which a
    box suppresses boxes of its own class only (mmcv's ``batched_nms``),
    taken class queue by class queue in the order of the scores, so that
    each kept box is compared with its own class's candidates alone and
    the loop ends at the ``top_k``-th kept box."""
    if agnostic:
        return index[greedy_nms(box[index], score[index], iou_thr, top_k)]
    import heapq
    overlaps = _Overlaps(box, iou_thr)
    # per class, by descending score, equal scores in candidate order
    order = index[np.lexsort((index, -score[index], label[index]))]
    _, starts = np.unique(label[order], return_index=True)
    queues = np.split(order, starts[1:])
    heap = [(-float(score[q[0]]), int(q[0]), c) for c, q in
            enumerate(queues)]
    heapq.heapify(heap)
    kept = []
    while heap and len(kept) < top_k:
        _, i, c = heapq.heappop(heap)
        kept.append(i)
        rest = queues[c][1:]
        if rest.size:
            rest = overlaps.survivors(i, rest)
        queues[c] = rest
        if rest.size:
            heapq.heappush(heap, (-float(score[rest[0]]), int(rest[0]), c))
    return np.asarray(kept, np.int64)


def host_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
             meta: Dict[str, str], image_hw: Optional[np.ndarray] = None
             ) -> Tuple[np.ndarray, np.ndarray]:
    """A host-NMS program's candidates -> ``dets`` (N, K, 5), ``labels``
    (N, K), with the thresholds of its metadata ``meta`` (``score_thr``,
    ``iou_thr``, ``max_per_img``, ``min_bbox_size``, ``class_agnostic``).
    ``image_hw`` (N, 2): each image's height and width in a padded batch;
    its boxes are clipped to them (the program clipped to the tensor)."""
    score_thr = float(meta['score_thr'])
    iou_thr = float(meta['iou_thr'])
    top_k = int(meta['max_per_img'])
    min_size = float(meta.get('min_bbox_size', '-1'))
    agnostic = meta.get('class_agnostic', 'false') == 'true'
    boxes = np.asarray(boxes, np.float32)
    scores = np.asarray(scores, np.float32)
    labels = np.asarray(labels, np.int64)
    num = len(boxes)
    dets = np.zeros((num, top_k, 5), np.float32)
    out_labels = np.full((num, top_k), -1, np.int64)
    for n in range(num):
        box, score, label = boxes[n], scores[n], labels[n]
        if image_hw is not None:
            height, width = (np.float32(v) for v in image_hw[n])
            box = np.minimum(np.maximum(box, np.float32(0)),
                             np.array([width, height, width, height],
                                      np.float32))
        valid = score > score_thr
        if min_size >= 0:
            valid &= ((box[:, 2] - box[:, 0]) > min_size) & \
                ((box[:, 3] - box[:, 1]) > min_size)
        index = np.nonzero(valid)[0]
        if not len(index):
            continue
        kept = _nms(box, score, label, index, iou_thr, top_k, agnostic)
        count = len(kept)
        dets[n, :count, :4] = box[kept]
        dets[n, :count, 4] = score[kept]
        out_labels[n, :count] = label[kept]
    return dets, out_labels


def _priors(spec: dict, level: int, height: int, width: int) -> np.ndarray:
    """One level's priors for an ``height x width`` map, row-major as
    mmdet's: (h*w*A, 4) anchors or (h*w, 2) points."""
    stride_w, stride_h = (np.float32(v) for v in spec['strides'][level])
    offset = np.float32(spec['offset'])
    xs = (np.arange(width, dtype=np.float32) + offset) * stride_w
    ys = (np.arange(height, dtype=np.float32) + offset) * stride_h
    yy, xx = np.meshgrid(ys, xs, indexing='ij')
    xx, yy = xx.reshape(-1), yy.reshape(-1)
    if spec['kind'] == 'point':
        return np.stack([xx, yy], axis=-1)
    base = np.asarray(spec['base_anchors'][level], np.float32)
    shifts = np.stack([xx, yy, xx, yy], axis=-1)
    return (shifts[:, None, :] + base[None]).reshape(-1, 4)


def _decode(coder: dict, priors: np.ndarray, preds: np.ndarray,
            height: int, width: int) -> np.ndarray:
    """mmdet's ``delta2bbox``/``distance2bbox`` in float32, clipped to the
    input tensor where the coder clips."""
    if coder['kind'] == 'distance':
        boxes = np.concatenate([priors[:, :2] - preds[:, :2],
                                priors[:, :2] + preds[:, 2:]], axis=-1)
    else:
        deltas = preds * np.asarray(coder['stds'], np.float32) + \
            np.asarray(coder['means'], np.float32)
        pxy = (priors[:, :2] + priors[:, 2:]) * np.float32(0.5)
        pwh = priors[:, 2:] - priors[:, :2]
        dxy_wh, dwh = pwh * deltas[:, :2], deltas[:, 2:]
        ratio = np.float32(coder['max_ratio'])
        if coder['add_ctr_clamp']:
            clamp = np.float32(coder['ctr_clamp'])
            dxy_wh = np.clip(dxy_wh, -clamp, clamp)
            dwh = np.minimum(dwh, ratio)
        else:
            dwh = np.clip(dwh, -ratio, ratio)
        gxy, gwh = pxy + dxy_wh, pwh * np.exp(dwh)
        boxes = np.concatenate([gxy - gwh * np.float32(0.5),
                                gxy + gwh * np.float32(0.5)], axis=-1)
    if coder['clip_border']:
        limit = np.array([width, height, width, height], np.float32)
        boxes = np.minimum(np.maximum(boxes, np.float32(0)), limit)
    return boxes.astype(np.float32)


def _top(flat: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest of ``flat``, by descending value."""
    if 0 < k < len(flat):
        index = np.argpartition(-flat, k - 1)[:k]
        return index[np.argsort(-flat[index], kind='stable')]
    return np.argsort(-flat, kind='stable')


def host_candidates(outputs: Sequence[np.ndarray], meta: Dict[str, str],
                    input_hw: Optional[Tuple[int, int]] = None
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``decode: host`` network's outputs (``cls_scores`` then
    ``bbox_preds``, (N, A*C, h, w) and (N, A*4, h, w) level by level) ->
    the candidates ``boxes`` (N, M, 4), ``scores`` (N, M, 0 at or below
    ``score_thr``), ``labels`` (N, M) that :func:`host_nms` finishes: per
    level the top ``nms_pre`` (prior, class) pairs, decoded, with boxes
    clipped to the input tensor (``input_hw``; by default the first
    level's map times its stride), as the graph of ``decode: graph``
    does."""
    if 'head' not in meta:
        raise ValueError("host_candidates needs the metadata of a network "
                         "exported with decode='host' (its 'head' entry)")
    spec = json.loads(meta['head']) if isinstance(meta['head'], str) \
        else meta['head']
    levels = len(spec['priors']['strides'])
    if len(outputs) != 2 * levels or any(np.ndim(o) != 4 for o in outputs):
        raise ValueError(f'the head has {levels} levels but the network '
                         f'gave {len(outputs)} outputs of '
                         f'{sorted({np.ndim(o) for o in outputs})} '
                         'dimensions (cls_scores and bbox_preds per level, '
                         'N x C x h x w)')
    if not len(outputs[0]):  # an empty batch
        return (np.zeros((0, 0, 4), np.float32), np.zeros((0, 0), np.float32),
                np.zeros((0, 0), np.int64))
    channels, nms_pre = int(spec['cls_channels']), int(spec['nms_pre'])
    score_thr = np.float32(meta['score_thr'])
    height, width = input_hw if input_hw is not None else (None, None)
    num = len(outputs[0])
    result = [([], [], []) for _ in range(num)]
    for level in range(levels):
        cls = np.asarray(outputs[level], np.float32)
        reg = np.asarray(outputs[levels + level], np.float32)
        h, w = cls.shape[2:]
        if height is None:  # the first level's stride gives the input
            stride_w, stride_h = spec['priors']['strides'][0]
            height, width = round(h * stride_h), round(w * stride_w)
        priors = _priors(spec['priors'], level, h, w)
        for n in range(num):
            logits = cls[n].transpose(1, 2, 0).reshape(-1, channels)
            if spec['use_sigmoid']:  # exp overflows to inf: the score is 0
                with np.errstate(over='ignore'):
                    prob = np.float32(1) / (np.float32(1) + np.exp(-logits))
            else:  # softmax; background is the last class
                e = np.exp(logits - logits.max(axis=-1, keepdims=True))
                prob = (e / e.sum(axis=-1, keepdims=True))[:, :-1]
            classes = prob.shape[1]
            flat = prob.reshape(-1)
            index = _top(flat, nms_pre)
            prior_index, label = index // classes, index % classes
            deltas = reg[n].transpose(1, 2, 0).reshape(-1, 4)
            box = _decode(spec['coder'], priors[prior_index],
                          deltas[prior_index], height, width)
            score = flat[index]
            boxes, scores, labels = result[n]
            boxes.append(box)
            scores.append(np.where(score > score_thr, score, 0))
            labels.append(label)
    boxes, scores, labels = (
        np.stack([np.concatenate(part[i]) for part in result])
        for i in range(3))
    return (boxes.astype(np.float32), scores.astype(np.float32),
            labels.astype(np.int64))
