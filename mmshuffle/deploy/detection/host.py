"""The host side of a detector whose program stops before NMS (numpy only).

Runtimes without an NMS kernel (ExecuTorch's portable and XNNPACK kernels
have none) run a detector exported with ``nms='host'``: the program holds
the network, the box decoding, the per-level top ``nms_pre`` and the score
threshold, and returns its candidates::

    boxes (N, M, 4) float32, scores (N, M) float32 (0 below the threshold),
    labels (N, M) int64

:func:`host_nms` finishes them as the in-graph post-processing does (and
mmdet's ``predict``): clip to each image, ``min_bbox_size``, greedy NMS
per class (mmcv's ``batched_nms``: the class-offset trick) and the top
``max_per_img``, into the same ``dets`` (N, K, 5) / ``labels`` (N, K)
layout as an end-to-end graph's (padding rows: score 0, label -1).

This module imports numpy alone, so a host without torch can ship it.
"""
from typing import Dict, Optional, Tuple

import numpy as np


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
               max_output: int) -> np.ndarray:
    """torchvision's ``nms`` in numpy (float32 arithmetic as its CPU
    kernel): indices of the kept boxes by descending score (stable for
    equal scores), at most ``max_output``. A box is dropped when its IoU
    with a kept, higher-scoring box is above ``iou_threshold``."""
    boxes = np.asarray(boxes, np.float32)
    remaining = np.argsort(-np.asarray(scores, np.float32), kind='stable')
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    threshold = np.float32(iou_threshold)
    keep = []
    while remaining.size and len(keep) < max_output:
        i, rest = remaining[0], remaining[1:]
        keep.append(i)
        width = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) -
                           np.maximum(x1[i], x1[rest]))
        height = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) -
                            np.maximum(y1[i], y1[rest]))
        inter = width * height
        remaining = rest[~(inter / (areas[i] + areas[rest] - inter) >
                           threshold)]
    return np.asarray(keep, np.int64)


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
        nms_boxes = box[index]
        if not agnostic:  # mmcv's offset: boxes of two classes never meet
            offset = nms_boxes.max() + np.float32(1)
            nms_boxes = nms_boxes + (label[index].astype(np.float32) *
                                     offset)[:, None]
        kept = index[greedy_nms(nms_boxes, score[index], iou_thr, top_k)]
        count = len(kept)
        dets[n, :count, :4] = box[kept]
        dets[n, :count, 4] = score[kept]
        out_labels[n, :count] = label[kept]
    return dets, out_labels
