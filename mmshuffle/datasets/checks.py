"""Checks of the data a config points at, run before training or testing.

mmengine, mmdet and mmpretrain read annotation files leniently: a COCO
annotation with an unknown category id or a box of negative size is
dropped without a word, a class index beyond the configured classes
crashes deep inside the loss, a missing folder surfaces as a traceback from
a worker process. ``tools/train.py`` and ``tools/test.py`` call
:func:`check_dataloader` on every dataloader they use; each problem raises
:class:`DataError` whose message names the config key or the file (and
line or annotation), the value found and what is allowed.

Nothing is skipped or repaired: the data are either valid or the run does
not start.
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

#: how far (pixels) a COCO box may reach past the image border: annotation
#: tools round coordinates, so COCO's own files overshoot by a fraction
BORDER_TOLERANCE = 1.0


class DataError(ValueError):
    """Invalid or missing data; the message names the file or key."""


def _join(root: Optional[str], path: str) -> str:
    if root and not osp.isabs(path):
        return osp.join(root, path)
    return path


def _where() -> str:
    return f'(working directory {os.getcwd()})'


class _Listing:
    """``exists(path)`` for many files: one directory listing per folder
    instead of one ``stat`` per image (ImageNet: 1,000 listings instead of
    1.28 million stats)."""

    def __init__(self):
        self._dirs = {}

    def exists(self, path: str) -> bool:
        folder, name = osp.split(path)
        if folder not in self._dirs:
            try:
                with os.scandir(folder or '.') as entries:
                    self._dirs[folder] = {
                        e.name for e in entries if e.is_file()
                    }
            except OSError:  # not a directory
                self._dirs[folder] = set()
        return name in self._dirs[folder]


def check_coco_annotations(ann_file: str,
                           img_dir: Optional[str] = None,
                           classes: Optional[Sequence[str]] = None) -> Dict:
    """Check a COCO-format detection annotation file; return its content.

    Checks that the file is non-empty JSON with ``images``,
    ``annotations`` and ``categories`` lists; that images have unique ids
    and positive ``width``/``height`` (and, with ``img_dir``, that their
    files exist); that every annotation refers to a known image and
    category and has a box ``[x, y, w, h]`` of positive size inside its
    image (within :data:`BORDER_TOLERANCE` pixels); and that every name of
    ``classes`` (the config's ``metainfo.classes``) is a category.

    Raises:
        DataError: the first problem found, naming the file and the entry.
    """
    if not osp.isfile(ann_file):
        raise DataError(f'annotation file {ann_file!r} does not exist '
                        f'{_where()}')
    if osp.getsize(ann_file) == 0:
        raise DataError(f'annotation file {ann_file!r} is empty; expected '
                        'COCO JSON with images, annotations and categories')
    with open(ann_file, 'rb') as f:
        raw = f.read()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f'annotation file {ann_file!r} is not valid JSON '
                        f'({err})') from None
    if not isinstance(data, dict):
        raise DataError(f'annotation file {ann_file!r}: expected a JSON '
                        'object with images, annotations and categories, '
                        f'but got a {type(data).__name__}')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            found = 'missing' if key not in data else \
                f'a {type(data[key]).__name__}'
            raise DataError(f'annotation file {ann_file!r}: {key!r} must be '
                            f'a list, but it is {found}')

    categories = {}
    for i, cat in enumerate(data['categories']):
        if not isinstance(cat, dict) or 'id' not in cat or 'name' not in cat:
            raise DataError(f'annotation file {ann_file!r}: categories[{i}] '
                            f'must have an id and a name, but got {cat!r}')
        if cat['id'] in categories:
            raise DataError(f'annotation file {ann_file!r}: category id '
                            f'{cat["id"]!r} appears twice')
        categories[cat['id']] = cat['name']
    if classes is not None:
        names = set(categories.values())
        for name in classes:
            if name not in names:
                raise DataError(
                    f'class {name!r} of the config (metainfo.classes) is not '
                    f'a category of annotation file {ann_file!r}; its '
                    f'categories are {sorted(names)}')

    images, listing = {}, _Listing()
    for i, img in enumerate(data['images']):
        if not isinstance(img, dict) or not {'id', 'file_name', 'width',
                                             'height'} <= set(img):
            raise DataError(
                f'annotation file {ann_file!r}: images[{i}] must have id, '
                f'file_name, width and height, but got {img!r}')
        if img['id'] in images:
            raise DataError(f'annotation file {ann_file!r}: image id '
                            f'{img["id"]!r} appears twice')
        for side in ('width', 'height'):
            if not isinstance(img[side], int) or img[side] < 1:
                raise DataError(
                    f'annotation file {ann_file!r}: images[{i}] '
                    f'({img["file_name"]!r}) has {side} {img[side]!r}; '
                    'it must be a positive int')
        if img_dir is not None:
            path = osp.join(img_dir, img['file_name'])
            if not listing.exists(path):
                raise DataError(
                    f'image file {path!r} does not exist (images[{i}] of '
                    f'{ann_file!r}) {_where()}')
        images[img['id']] = img

    allowed = sorted(categories)
    for i, ann in enumerate(data['annotations']):
        where = f'annotation file {ann_file!r}: annotations[{i}]'
        if not isinstance(ann, dict):
            raise DataError(f'{where} must be an object, but got {ann!r}')
        where += f' (id {ann.get("id")!r})'
        img = images.get(ann.get('image_id'))
        if img is None:
            raise DataError(f'{where} refers to image_id '
                            f'{ann.get("image_id")!r}, which is not in '
                            'images')
        where += f' of image {img["file_name"]!r}'
        if ann.get('category_id') not in categories:
            raise DataError(f'{where} has category_id '
                            f'{ann.get("category_id")!r}, which is not a '
                            f'category id; the ids are {allowed}')
        box = ann.get('bbox')
        if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v) for v in box)):
            raise DataError(f'{where} has bbox {box!r}; expected [x, y, '
                            'width, height], four finite numbers')
        x, y, w, h = box
        if w <= 0 or h <= 0:
            raise DataError(f'{where} has bbox {box!r} of size {w} x {h}; '
                            'width and height must be positive')
        tol = BORDER_TOLERANCE
        if x < -tol or y < -tol or x + w > img['width'] + tol or \
                y + h > img['height'] + tol:
            raise DataError(
                f'{where} has bbox {box!r} (x0, y0, x1, y1 = {x}, {y}, '
                f'{x + w}, {y + h}) outside its {img["width"]} x '
                f'{img["height"]} image')
    return data


def check_classification_list(ann_file: str,
                              img_dir: Optional[str] = None,
                              classes: Optional[Sequence[str]] = None
                              ) -> List[tuple]:
    """Check an mmpretrain annotation list (``relative/path.png LABEL``
    per line); return ``(path, label)`` pairs.

    Every line must name an image (that exists, with ``img_dir``) and an
    int label; with ``classes``, the label must be in
    ``range(len(classes))``.

    Raises:
        DataError: naming the file, the line number and the problem.
    """
    if not osp.isfile(ann_file):
        raise DataError(f'annotation file {ann_file!r} does not exist '
                        f'{_where()}')
    items, listing = [], _Listing()
    with open(ann_file) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            where = f'{ann_file}, line {number}'
            parts = line.rsplit(' ', 1)
            if len(parts) != 2:
                raise DataError(f'{where}: expected "PATH LABEL", but got '
                                f'{line!r}')
            path, label = parts
            try:
                label = int(label)
            except ValueError:
                raise DataError(f'{where}: label {label!r} is not an int '
                                'class index') from None
            if classes is not None and not 0 <= label < len(classes):
                raise DataError(
                    f'{where}: class index {label} names no class; the '
                    f'config has {len(classes)} classes, indices 0 to '
                    f'{len(classes) - 1} ({", ".join(classes)})')
            if img_dir is not None and not listing.exists(
                    osp.join(img_dir, path)):
                raise DataError(f'{where}: image file '
                                f'{osp.join(img_dir, path)!r} does not '
                                f'exist {_where()}')
            items.append((path, label))
    if not items:
        raise DataError(f'annotation file {ann_file!r} lists no images')
    return items


def _unwrap(dataset: dict, key: str):
    """Yield ``(key, dataset cfg)`` of the real datasets inside dataset
    wrappers (RepeatDataset, ClassBalancedDataset, ConcatDataset)."""
    if 'datasets' in dataset:
        for i, sub in enumerate(dataset['datasets']):
            yield from _unwrap(sub, f'{key}.datasets[{i}]')
    elif 'dataset' in dataset:
        yield from _unwrap(dataset['dataset'], f'{key}.dataset')
    else:
        yield key, dataset


def _img_prefix(prefix) -> str:
    if isinstance(prefix, str):
        return prefix
    if isinstance(prefix, dict):
        for name in ('img', 'img_path'):
            if name in prefix:
                return prefix[name]
    return ''


def check_dataset(dataset: dict, key: str) -> None:
    """Check one dataset config (``key`` is where it is in the config,
    for the message) and the files it points at."""
    root = dataset.get('data_root')
    if root and not osp.isdir(root):
        raise DataError(f'{key}.data_root {root!r} does not exist '
                        f'{_where()}; point it at the data set (or make the '
                        'toy data with tools/misc/make_toy_data.py)')
    img_dir = _join(root, _img_prefix(dataset.get('data_prefix', '')))
    if img_dir and not osp.isdir(img_dir):
        raise DataError(f'{key}.data_prefix: image directory {img_dir!r} '
                        f'does not exist {_where()}')
    ann = dataset.get('ann_file')
    if not ann:
        return
    ann_file = _join(root, ann)
    if not osp.isfile(ann_file):
        raise DataError(f'{key}.ann_file {ann_file!r} does not exist '
                        f'{_where()}')
    metainfo = dataset.get('metainfo') or {}
    classes = metainfo.get('classes', dataset.get('classes'))
    if isinstance(classes, str):  # a file of class names
        classes = None
    if ann_file.endswith('.json'):
        check_coco_annotations(ann_file, img_dir or None, classes)
    elif ann_file.endswith('.txt'):
        check_classification_list(ann_file, img_dir or None, classes)


def dataset_configs(cfg, name: str):
    """``(key, dataset cfg)`` of every dataset of ``cfg[name]`` (e.g.
    ``'train_dataloader'``), dataset wrappers unwrapped."""
    loader = cfg.get(name)
    if not loader or not loader.get('dataset'):
        return
    yield from _unwrap(loader['dataset'], f'{name}.dataset')


def check_dataloader(cfg, name: str) -> None:
    """Check the dataset(s) of ``cfg[name]`` (e.g. ``'train_dataloader'``)
    and, for val/test, the evaluator's annotation file."""
    loader = cfg.get(name)
    if not loader or not loader.get('dataset'):
        return
    for key, dataset in _unwrap(loader['dataset'], f'{name}.dataset'):
        check_dataset(dataset, key)
    evaluator_key = name.replace('_dataloader', '_evaluator')
    evaluators = cfg.get(evaluator_key) or []
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    for i, evaluator in enumerate(evaluators):
        ann = evaluator.get('ann_file') if isinstance(evaluator,
                                                      dict) else None
        if ann and not osp.isfile(ann):
            where = evaluator_key if len(evaluators) == 1 else \
                f'{evaluator_key}[{i}]'
            raise DataError(f'{where}.ann_file {ann!r} does not exist '
                            f'{_where()}')
