"""Checking an exported detector against the detector itself: mmdet's
own predictions on the same input, and a box-for-box comparison."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn


def input_pixel_samples(shape: Sequence[int]) -> List:
    """mmdet ``DetDataSample``\\ s for a normalised batch of ``shape``
    (N, C, H, W) whose images fill the whole input: image, original and
    padded shapes all (H, W), scale 1. With them mmdet's ``predict``
    (``rescale=False``) gives boxes in input pixels, as an exported graph
    does."""
    from mmdet.structures import DetDataSample
    num, height, width = shape[0], shape[2], shape[3]
    return [
        DetDataSample(metainfo=dict(img_shape=(height, width),
                                    ori_shape=(height, width),
                                    pad_shape=(height, width),
                                    batch_input_shape=(height, width),
                                    scale_factor=(1.0, 1.0)))
        for _ in range(num)
    ]


@torch.no_grad()
def predict_reference(detector: nn.Module, inputs: Tensor) -> List[Dict]:
    """mmdet's predict path on normalised ``inputs`` (N, 3, H, W): the
    detector's own boxes in input pixels (:func:`input_pixel_samples`), as
    dicts of numpy ``bboxes``/``scores``/``labels``."""
    results = detector.predict(inputs, input_pixel_samples(inputs.shape),
                               rescale=False)
    return [
        dict(bboxes=r.pred_instances.bboxes.numpy(),
             scores=r.pred_instances.scores.numpy(),
             labels=r.pred_instances.labels.numpy()) for r in results
    ]


def split_detections(dets, labels) -> List[Dict]:
    """An exported graph's ``dets`` (N, K, 5) and ``labels`` (N, K) as one
    dict of numpy ``bboxes``/``scores``/``labels`` per image, padding rows
    dropped."""
    dets, labels = np.asarray(dets), np.asarray(labels)
    out = []
    for det, label in zip(dets, labels):
        valid = det[:, 4] > 0
        out.append(dict(bboxes=det[valid, :4], scores=det[valid, 4],
                        labels=label[valid].astype(np.int64)))
    return out


def compare_detections(reference: Sequence[Dict], outputs: Sequence[Dict],
                       box_tol: float = 0.05,
                       score_tol: float = 1e-4,
                       cut: Optional[Tuple[float, int]] = None) -> Dict:
    """Match each reference detection to an output detection of the same
    class whose box (max abs coordinate difference) is within ``box_tol``
    pixels and score within ``score_tol``.

    A detection left unmatched on either side is a *cut tie* when its
    score is within ``score_tol`` of the lowest score kept for that image
    (on either side): where candidates score alike at the top-K or
    threshold cut, rounding decides which ones make it, in any two
    implementations. With ``cut=(score_thr, max_per_img)`` (the exporter's
    check) the rule is strict: an unmatched detection is a cut tie only
    when its score is within ``score_tol`` of ``score_thr``, or when the
    other side kept ``max_per_img`` detections of that image and the
    lowest of them is within ``score_tol`` of it; a detection the other
    side has no twin for is then never excused by its own score.

    Returns:
        dict: ``reference``/``outputs`` (counts), ``matched``,
        ``cut_ties`` (unmatched ones at the cut), ``max_box_diff`` /
        ``max_score_diff`` over the matches, and ``ok`` (every detection
        on both sides matched or a cut tie).
    """
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
        if cut is not None:
            at_cut = np.concatenate([
                _strict_ties(ref['scores'][~ref_used], out['scores'], cut,
                             score_tol),
                _strict_ties(out['scores'][~used], ref['scores'], cut,
                             score_tol)])
            ties += int(at_cut.sum())
            unexplained += int((~at_cut).sum())
            continue
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


def _strict_ties(unmatched, other, cut, score_tol) -> np.ndarray:
    """Which ``unmatched`` scores sit at the threshold cut or at the other
    side's full top-K cut (``cut=(score_thr, max_per_img)``)."""
    score_thr, max_per_img = cut
    at_cut = np.asarray(unmatched) <= score_thr + score_tol
    if len(other) >= max_per_img:
        at_cut |= np.asarray(unmatched) <= float(np.min(other)) + score_tol
    return at_cut
