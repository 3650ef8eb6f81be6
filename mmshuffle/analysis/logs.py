"""Training curves from mmengine's scalar logs.

mmengine's ``LocalVisBackend`` writes one JSON object per line to
``<work_dir>/<timestamp>/vis_data/scalars.json``: training records carry
``iter`` (and ``epoch`` in epoch-based runs) besides their values, validation
records only ``step`` (the epoch, or the iteration in iteration-based runs).
"""
import glob
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

#: metrics drawn by default when a log has them (besides ``loss``)
DEFAULT_METRICS = ('accuracy/top1', 'coco/bbox_mAP', 'coco/bbox_mAP_50')


def find_scalars(path: str) -> str:
    """The ``scalars.json`` of a work dir's newest run.

    Args:
        path (str): A ``scalars.json`` file, a run folder
            (``<work_dir>/<timestamp>``) or a work dir.

    Returns:
        str: The path of the ``scalars.json`` file.

    Raises:
        FileNotFoundError: If ``path`` holds no scalar log.
    """
    if osp.isfile(path):
        return path
    candidates = sorted(
        glob.glob(osp.join(path, 'vis_data', 'scalars.json')) +
        glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not candidates:
        raise FileNotFoundError(
            f'no scalar log in {path!r}: expected '
            f'{osp.join(path, "<timestamp>", "vis_data", "scalars.json")} '
            '(written by mmengine\'s LocalVisBackend)')
    # run folders are named by start time: the last one is the newest run
    return candidates[-1]


def load_scalars(path: str) -> Tuple[List[dict], List[dict]]:
    """Read a scalar log into training and validation records.

    Args:
        path (str): See :func:`find_scalars`.

    Returns:
        tuple[list[dict], list[dict]]: The training records (those with an
        ``iter`` key) and the validation records, in file order.
    """
    train, val = [], []
    with open(find_scalars(path)) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            (train if 'iter' in record else val).append(record)
    return train, val


def default_keys(train: Sequence[dict], val: Sequence[dict]) -> List[str]:
    """``loss`` and whichever of :data:`DEFAULT_METRICS` the log has."""
    present = {k for r in list(train) + list(val) for k in r}
    return [k for k in ('loss', ) + DEFAULT_METRICS if k in present]


def curves(train: Sequence[dict], val: Sequence[dict],
           keys: Sequence[str]) -> Dict[str, Tuple[str, list, list]]:
    """The points of each curve.

    Args:
        train (Sequence[dict]): Training records, see :func:`load_scalars`.
        val (Sequence[dict]): Validation records.
        keys (Sequence[str]): The scalars to draw.

    Returns:
        dict: ``{key: (x label, xs, ys)}``. Training scalars are drawn per
        iteration; validation scalars per epoch in epoch-based runs, per
        iteration otherwise.

    Raises:
        KeyError: If a key is in no record, naming the keys there are.
    """
    by_epoch = any('epoch' in r for r in train)
    out = {}
    for key in keys:
        train_pts = [(r['iter'], r[key]) for r in train if key in r]
        val_pts = [(r['step'], r[key]) for r in val if key in r]
        if train_pts:
            out[key] = ('iteration', *map(list, zip(*train_pts)))
        elif val_pts:
            label = 'epoch' if by_epoch else 'iteration'
            out[key] = (label, *map(list, zip(*val_pts)))
        else:
            present = sorted({k for r in list(train) + list(val) for k in r})
            raise KeyError(f'{key!r} is not in the log; it has {present}')
    return out


def plot_curves(path: str,
                out: str,
                keys: Optional[Sequence[str]] = None,
                title: Optional[str] = None) -> Dict[str, Tuple[str, list,
                                                                list]]:
    """Draw curves of a scalar log to an image file (one panel per key).

    Args:
        path (str): See :func:`find_scalars`.
        out (str): The image to write (``.png``, ``.pdf``, ``.svg``).
        keys (Sequence[str], optional): The scalars to draw. Defaults to
            :func:`default_keys`.
        title (str, optional): A title above the panels.

    Returns:
        dict: The points drawn, see :func:`curves`.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    train, val = load_scalars(path)
    keys = list(keys) if keys else default_keys(train, val)
    if not keys:
        raise ValueError(f'nothing to draw in {find_scalars(path)!r}')
    data = curves(train, val, keys)
    cols = min(len(keys), 3)
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        label, xs, ys = data[key]
        ax.plot(xs, ys, marker='o' if len(xs) <= 50 else None, markersize=3)
        ax.set_xlabel(label)
        ax.set_title(key)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis('off')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return data
