"""Built-in toy data: coloured shapes on textured, noisy backgrounds.

Two tasks: classification (one shape per image, mmpretrain's folder format)
and detection (1-6 shapes per image, COCO format).

Deterministic: image ``i`` of a split depends only on ``(seed, i)``, so the
data are the same on every machine and train/val (different seeds) never
share an image. Written with Pillow and numpy only.
"""
import json
import math
import os
import os.path as osp
import sys
from typing import List, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: the shape classes, in label order
SHAPES = ('circle', 'square', 'triangle', 'star', 'ring', 'cross')


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def _shape_polygon(kind: str, radius: float, angle: float) -> np.ndarray:
    """Vertices (centred at 0) of the polygonal shapes."""
    if kind == 'square':
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * 0.8
    elif kind == 'triangle':
        t = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        pts = np.stack([np.cos(t), -np.sin(t)], 1)
    elif kind == 'star':
        t = np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        pts = np.stack([r * np.cos(t), -r * np.sin(t)], 1)
    elif kind == 'cross':
        a, b = 1.0, 0.3
        pts = np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b],
                        [b, a], [-b, a], [-b, b], [-a, b], [-a, -b],
                        [-b, -b]])
    else:
        raise ValueError(f'{kind!r} is not a polygonal shape')
    return _rotate(pts * radius, angle)


def draw_shape(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float,
               radius: float, angle: float,
               color: Tuple[int, int, int]) -> Tuple[float, float, float,
                                                       float]:
    """Draw one shape; return its tight box ``(x0, y0, x1, y1)``."""
    if kind in ('circle', 'ring'):
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        if kind == 'circle':
            draw.ellipse(box, fill=color)
        else:
            draw.ellipse(box, outline=color, width=max(2, int(radius * 0.3)))
        return box
    pts = _shape_polygon(kind, radius, angle) + np.array([cx, cy])
    draw.polygon([tuple(p) for p in pts], fill=color)
    return (pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(),
            pts[:, 1].max())


def textured_background(rng: np.random.Generator, height: int,
                        width: int) -> Image.Image:
    """Low-frequency colour noise + a gradient + a few random strokes."""
    grid = rng.uniform(0, 255, size=(4, 4, 3)).astype(np.uint8)
    base = Image.fromarray(grid).resize((width, height), Image.BICUBIC)
    arr = np.asarray(base, dtype=np.float32)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    gradient = rng.uniform(-60, 60, size=3) * (xx + yy)[..., None]
    arr = np.clip(arr * 0.7 + gradient + 40, 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(3, 8)):  # clutter: thin random strokes
        x0, x1 = rng.uniform(0, width, 2)
        y0, y1 = rng.uniform(0, height, 2)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.line((x0, y0, x1, y1), fill=color, width=int(rng.integers(1, 3)))
    return img


def add_noise(rng: np.random.Generator, img: Image.Image,
              sigma: float) -> Image.Image:
    arr = np.asarray(img, dtype=np.float32)
    arr = arr + rng.normal(0, sigma, size=arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def random_color(rng: np.random.Generator) -> Tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def render_classification_image(seed: int, index: int,
                                size: int) -> Tuple[Image.Image, int]:
    """Image ``index`` of the split with ``seed``: one shape of a random
    class, colour, size, position and rotation. Returns (image, label)."""
    rng = np.random.default_rng([seed, index])
    label = int(rng.integers(len(SHAPES)))
    img = textured_background(rng, size, size)
    draw = ImageDraw.Draw(img)
    radius = rng.uniform(0.18, 0.36) * size
    margin = radius * 1.05
    cx, cy = rng.uniform(margin, size - margin, 2)
    draw_shape(draw, SHAPES[label], cx, cy, radius,
               rng.uniform(0, 2 * np.pi), random_color(rng))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    img = add_noise(rng, img, sigma=rng.uniform(4, 16))
    return img, label


class Progress:
    """A small progress bar: redrawn in place on a terminal, one line per
    10% otherwise (logs stay short)."""

    def __init__(self, total: int, desc: str, stream=None):
        self.total, self.desc, self.done = total, desc, 0
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._last_decile = -1

    def update(self, n: int = 1) -> None:
        self.done += n
        frac = self.done / self.total
        if self.tty:
            bar = '#' * int(frac * 30)
            self.stream.write(f'\r{self.desc} [{bar:<30}] '
                              f'{self.done}/{self.total}')
            if self.done >= self.total:
                self.stream.write('\n')
        elif int(frac * 10) > self._last_decile:
            self._last_decile = int(frac * 10)
            self.stream.write(f'{self.desc}: {self.done}/{self.total}\n')
        self.stream.flush()


def _check_split_args(num_train, num_val, size, train_seed, val_seed):
    for name, value in (('num_train', num_train), ('num_val', num_val),
                        ('size', size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f'{name} must be a positive int, got {value!r}')
    if train_seed == val_seed:
        raise ValueError('train_seed and val_seed must differ, both are '
                         f'{train_seed}')


def make_toy_classification(out_dir: str,
                            num_train: int = 3000,
                            num_val: int = 600,
                            size: int = 96,
                            train_seed: int = 0,
                            val_seed: int = 1,
                            progress: bool = True) -> dict:
    """Write the toy classification set in mmpretrain's folder format.

    ``out_dir/{train,val}/<class>/<index>.png`` plus ``out_dir/meta``:
    ``classes.txt`` and ``{train,val}.txt`` (``<class>/<file> <label>``
    lines, usable as ``ann_file``), and ``info.json`` recording the
    arguments. Train and val use different seeds.

    Returns:
        dict: the number of images per split and class.
    """
    _check_split_args(num_train, num_val, size, train_seed, val_seed)
    if size < 32:
        raise ValueError(f'size must be >= 32 pixels, got {size}')
    counts = {}
    os.makedirs(osp.join(out_dir, 'meta'), exist_ok=True)
    for split, num, seed in (('train', num_train, train_seed),
                             ('val', num_val, val_seed)):
        for name in SHAPES:
            os.makedirs(osp.join(out_dir, split, name), exist_ok=True)
        lines: List[str] = []
        per_class = [0] * len(SHAPES)
        bar = Progress(num, f'{split} -> {osp.join(out_dir, split)}') \
            if progress else None
        for i in range(num):
            img, label = render_classification_image(seed, i, size)
            rel = f'{SHAPES[label]}/{i:06d}.png'
            img.save(osp.join(out_dir, split, rel))
            lines.append(f'{rel} {label}')
            per_class[label] += 1
            if bar is not None:
                bar.update()
        with open(osp.join(out_dir, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        counts[split] = dict(zip(SHAPES, per_class))
    with open(osp.join(out_dir, 'meta', 'classes.txt'), 'w') as f:
        f.write('\n'.join(SHAPES) + '\n')
    info = dict(
        task='classification',
        num_train=num_train,
        num_val=num_val,
        size=size,
        train_seed=train_seed,
        val_seed=val_seed,
        classes=list(SHAPES),
        counts=counts)
    # info.json is written last: its presence marks a complete data set
    with open(osp.join(out_dir, 'meta', 'info.json'), 'w') as f:
        json.dump(info, f, indent=2)
    return counts


#: the detection classes (COCO category ids 1..4, in this order)
DET_CLASSES = ('circle', 'square', 'triangle', 'star')


def render_detection_image(seed: int, index: int, size: int,
                           min_size: float = 12,
                           max_size: float = 128) -> Tuple[Image.Image, list]:
    """Image ``index`` of the split with ``seed``: 1-6 shapes of random
    class, colour, size (box side ``min_size``..``max_size`` px, log-uniform),
    position and rotation. Shapes may overlap; they are drawn largest first,
    so a small shape is never hidden under a larger one.

    Returns:
        (image, objects): objects are ``dict(label, bbox)`` with ``bbox`` in
        COCO ``[x, y, w, h]`` pixels, clipped to the image.
    """
    rng = np.random.default_rng([seed, index, 7])
    img = textured_background(rng, size, size)
    draw = ImageDraw.Draw(img)
    objects = []
    num = int(rng.integers(1, 7))
    max_size = min(max_size, 0.8 * size)  # small images: shapes fit
    sides = np.exp(rng.uniform(np.log(min_size), np.log(max_size), num))
    # large shapes first, so a small one is never hidden under a large one
    for side in sorted(sides, reverse=True):
        label = int(rng.integers(len(DET_CLASSES)))
        radius = float(side) / 2
        cx, cy = rng.uniform(radius * 0.6, size - radius * 0.6, 2)
        x0, y0, x1, y1 = draw_shape(draw, DET_CLASSES[label], cx, cy, radius,
                                    rng.uniform(0, 2 * np.pi),
                                    random_color(rng))
        x0, y0 = max(0.0, x0), max(0.0, y0)
        x1, y1 = min(float(size), x1), min(float(size), y1)
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            objects.append(
                dict(label=label, bbox=[x0, y0, x1 - x0, y1 - y0]))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    img = add_noise(rng, img, sigma=rng.uniform(4, 16))
    return img, objects


def make_toy_detection(out_dir: str,
                       num_train: int = 800,
                       num_val: int = 200,
                       size: int = 320,
                       train_seed: int = 0,
                       val_seed: int = 1,
                       progress: bool = True) -> dict:
    """Write the toy detection set in COCO format.

    ``out_dir/{train,val}/<index>.png`` and
    ``out_dir/annotations/instances_{train,val}.json`` (valid for
    pycocotools; category ids 1..4 for :data:`DET_CLASSES`), plus
    ``out_dir/annotations/info.json`` recording the arguments (written last:
    its presence marks a complete data set).

    Returns:
        dict: images and objects per split.
    """
    _check_split_args(num_train, num_val, size, train_seed, val_seed)
    if size < 64:
        raise ValueError(f'size must be >= 64 pixels for detection, got '
                         f'{size}')
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    categories = [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(DET_CLASSES)
    ]
    counts = {}
    for split, num, seed in (('train', num_train, train_seed),
                             ('val', num_val, val_seed)):
        os.makedirs(osp.join(out_dir, split), exist_ok=True)
        images, annotations = [], []
        bar = Progress(num, f'{split} -> {osp.join(out_dir, split)}') \
            if progress else None
        for i in range(num):
            img, objects = render_detection_image(seed, i, size)
            name = f'{i:06d}.png'
            img.save(osp.join(out_dir, split, name))
            images.append(
                dict(id=i + 1, file_name=name, width=size, height=size))
            for obj in objects:
                x, y, w, h = (round(v, 2) for v in obj['bbox'])
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=i + 1,
                        category_id=obj['label'] + 1,
                        bbox=[x, y, w, h],
                        area=round(w * h, 2),
                        iscrowd=0))
            if bar is not None:
                bar.update()
        with open(osp.join(out_dir, 'annotations',
                           f'instances_{split}.json'), 'w') as f:
            json.dump(
                dict(
                    images=images,
                    annotations=annotations,
                    categories=categories), f)
        counts[split] = dict(images=num, objects=len(annotations))
    info = dict(
        task='detection',
        num_train=num_train,
        num_val=num_val,
        size=size,
        train_seed=train_seed,
        val_seed=val_seed,
        classes=list(DET_CLASSES),
        counts=counts)
    with open(osp.join(out_dir, 'annotations', 'info.json'), 'w') as f:
        json.dump(info, f, indent=2)
    return counts
