"""Run an exported mmshuffle model with onnxruntime, numpy and Pillow only.

    python standalone.py MODEL.onnx IMAGE [IMAGE ...] [--out-dir DIR]
        [--threads N] [--score-thr 0.3] [--max-pixels 100000000]

(in the repository: ``python tools/deployment/standalone_infer.py ...``).
This file imports nothing from PyTorch, mmcv, mmengine, mmdet, mmpretrain
or the rest of mmshuffle: copy it beside the model to any host with
``pip install onnxruntime numpy pillow`` and run it there.

Everything the model needs is read from its metadata
(``mmshuffle.*`` entries of the ONNX ``metadata_props``, written by
``tools/deployment/pytorch2onnx.py``; INT8 files from
``tools/deployment/quantize.py`` keep them):

* ``pipeline``: the geometric steps of the config's test pipeline:
  ``resize`` (a fixed size, or ``keep_ratio`` within a (long, short)
  bound, as mmcv's ``imrescale``), ``resize_edge`` (mmpretrain's
  ``ResizeEdge``), ``center_crop`` and ``pad``; OpenCV's bilinear resize
  is reproduced bit for bit in numpy (fixed-point coefficients and
  rounding), Pillow's resizes are Pillow's own;
* ``mean``, ``std``, ``bgr_to_rgb``, ``raw_input``, ``size_divisor``,
  ``pad_value``: the data preprocessor (channel conversion, normalisation,
  padding of the batch to a multiple of ``size_divisor``);
* ``classes``, ``palette``, ``score_thr``, ``max_per_img``, ``outputs``.

Images are decoded as ``tools/infer.py`` decodes them (:func:`read_image`:
EXIF orientation applied; grayscale, palette, CMYK, transparency and 16-bit
files turned into 8-bit RGB; large JPEGs decoded at 1/2 to 1/8 size), so
the two give the same predictions for the same file and model. Writes
``predictions.jsonl`` (a line per image as it is done),
``predictions.json`` (all of them at the end, or at Ctrl-C, exit 130) and
one picture per image into ``--out-dir``; a file that cannot be read is
named on one line and skipped, and the exit status is then 1.
"""
import argparse
import glob
import io
import json
import os
import os.path as osp
import sys
import tempfile
import warnings
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

#: the key prefix of mmshuffle's entries in an ONNX ``metadata_props``
META_PREFIX = 'mmshuffle.'
#: the default pixel limit of :func:`read_image` (Pillow's own is 89
#: megapixels, and 179 an error)
MAX_PIXELS = 100_000_000
#: the file names taken from folders and glob patterns
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
#: the pipeline steps this program runs (``pipeline`` metadata)
PIPELINE_STEPS = ('resize', 'resize_edge', 'center_crop', 'pad')


# ---------------------------------------------------------------- decoding
class ImageReadError(ValueError):
    """A file cannot be read as an image (the message names the file)."""


class Image(NamedTuple):
    """A decoded image: ``rgb``, the (H, W, 3) uint8 array, upright;
    ``size``, the ``(width, height)`` of the file's image, upright (the
    array is ``scale`` times smaller where it was too large); ``scale``,
    array pixels per file pixel (1.0, or 1/2, 1/4, 1/8 for a JPEG over
    ``max_pixels``); ``notes``, what was done to read it
    (``'EXIF orientation 6'``, ``'16-bit scaled to 8'``, ...), for the
    user's record."""
    rgb: np.ndarray
    size: tuple
    scale: float
    notes: tuple

    @property
    def bgr(self) -> np.ndarray:
        """The array in the BGR order mmcv's image loading gives."""
        return np.ascontiguousarray(self.rgb[..., ::-1])


def _to_8bit(array: np.ndarray, mode: str, notes: list) -> np.ndarray:
    """A gray image of more than 8 bits per sample in 8 bits: 16-bit
    samples (``I;16*``, or ``I`` within 0..65535 and not within 0..255)
    divided by 257, anything else (float, 32-bit) from its own range."""
    if mode.startswith('I;16') or (
            mode == 'I' and array.min(initial=0) >= 0 and
            255 < array.max(initial=0) <= 65535):
        notes.append('16-bit scaled to 8')
        return np.round(array.astype(np.float32) / 257.0).astype(np.uint8)
    if mode == 'I' and array.min(initial=0) >= 0 and \
            array.max(initial=0) <= 255:
        return array.astype(np.uint8)
    low, high = float(np.nanmin(array)), float(np.nanmax(array))
    notes.append(f'values {low:g}..{high:g} scaled to 0..255')
    if not high > low:
        return np.zeros(array.shape, np.uint8)
    scaled = (np.nan_to_num(array.astype(np.float64), nan=low) - low) / \
        (high - low) * 255
    return np.round(scaled).astype(np.uint8)


def _over_white(image, notes: list):
    from PIL import Image as PILImage
    notes.append(f'{image.mode} transparency composited over white')
    rgba = image.convert('RGBA')
    white = PILImage.new('RGBA', rgba.size, (255, 255, 255, 255))
    return PILImage.alpha_composite(white, rgba).convert('RGB')


def _open_image(path: str, max_pixels: int, notes: list):
    """The Pillow image of ``path``, drafted smaller if it is a JPEG over
    ``max_pixels``, and its scale."""
    from PIL import Image as PILImage
    with warnings.catch_warnings():
        # the size is checked here, against max_pixels
        warnings.simplefilter('ignore', PILImage.DecompressionBombWarning)
        limit = PILImage.MAX_IMAGE_PIXELS
        PILImage.MAX_IMAGE_PIXELS = None
        try:
            image = PILImage.open(path)
        finally:
            PILImage.MAX_IMAGE_PIXELS = limit
    width, height = image.size
    if width * height <= max_pixels:
        return image, 1.0
    if image.format != 'JPEG':
        raise ImageReadError(
            f'{path}: {width} x {height} = {width * height / 1e6:.0f} '
            f'megapixels, over the limit of {max_pixels / 1e6:.0f} '
            '(--max-pixels); downscale it first')
    factor = 2
    while factor < 8 and width * height / factor**2 > max_pixels:
        factor *= 2
    image.draft('RGB', (width // factor, height // factor))
    scale = image.size[0] / width
    notes.append(f'decoded at 1/{round(1 / scale)} size '
                 f'({width} x {height} is over the limit)')
    if image.size[0] * image.size[1] > max_pixels:
        raise ImageReadError(
            f'{path}: {width} x {height} is too large even at 1/8 size '
            f'(limit {max_pixels / 1e6:.0f} megapixels)')
    return image, scale


def read_image(path: str, max_pixels: int = MAX_PIXELS) -> Image:
    """Decode the image file ``path`` into 8-bit RGB, upright:

    * EXIF orientation applied (a phone photo comes out as it was shot,
      and the boxes are drawn where they were found);
    * grayscale (``L``, ``I``, ``F``), palette (``P``), CMYK JPEGs and
      YCbCr converted to RGB;
    * transparency (``RGBA``, ``LA``, ``P`` with a transparent colour)
      composited over white;
    * 16-bit PNG and TIFF scaled to 8 bits (``value / 257``; 32-bit and
      float gray images from their own range);
    * images over ``max_pixels`` refused with their size named, except
      JPEGs, which are decoded at the largest of 1/2, 1/4 or 1/8 of their
      size that fits (the ``scale`` of the result: boxes are mapped back
      to the file's pixels by the caller).

    Raises:
        ImageReadError: not an image, empty, truncated, or too large.
    """
    from PIL import Image as PILImage
    from PIL import ImageOps, UnidentifiedImageError
    if not osp.isfile(path):
        raise ImageReadError(f'{path}: no such file')
    if osp.getsize(path) == 0:
        raise ImageReadError(f'{path}: the file is empty')
    notes = []
    try:
        image, scale = _open_image(path, max_pixels, notes)
        orientation = image.getexif().get(0x0112, 1)
        image.load()
        if orientation not in (None, 1):
            notes.append(f'EXIF orientation {orientation}')
            image = ImageOps.exif_transpose(image)
        if image.mode in ('RGBA', 'LA', 'PA') or (
                image.mode == 'P' and 'transparency' in image.info):
            image = _over_white(image, notes)
        elif image.mode in ('I', 'I;16', 'I;16B', 'I;16L', 'F'):
            gray = _to_8bit(np.asarray(image), image.mode, notes)
            image = PILImage.fromarray(gray, 'L')
        if image.mode != 'RGB':
            if image.mode not in ('L', '1'):
                notes.append(f'{image.mode} converted to RGB')
            image = image.convert('RGB')
        rgb = np.asarray(image)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(f'{path}: not an image file Pillow can read') \
            from None
    except (OSError, SyntaxError, ValueError) as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else \
            type(err).__name__
        raise ImageReadError(f'{path}: cannot decode ({detail})') from None
    size = (round(rgb.shape[1] / scale), round(rgb.shape[0] / scale))
    return Image(np.ascontiguousarray(rgb), size, scale, tuple(notes))


# ---------------------------------------------------------------- geometry
def _cv2_taps(dst: int, src: int, clamp: bool):
    """OpenCV's bilinear taps along one axis: first source index, second,
    and their fixed-point weights (11 fractional bits). Along x the
    coordinate is clamped into the image; along y the rows are."""
    scale = 1.0 / (dst / src)
    pos = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    first = np.floor(pos).astype(np.int64)
    frac = (pos - first).astype(np.float32)
    if clamp:
        frac[(first < 0) | (first >= src - 1)] = 0
        first = np.clip(first, 0, src - 1)
    w1 = np.rint(frac * np.float32(2048)).astype(np.int64)
    w0 = np.rint((np.float32(1) - frac) * np.float32(2048)).astype(np.int64)
    return (np.clip(first, 0, src - 1), np.clip(first + 1, 0, src - 1), w0,
            w1)


def resize_bilinear(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """``cv2.resize(img, (width, height), interpolation=INTER_LINEAR)`` of
    an (H, W[, C]) uint8 array, bit for bit: OpenCV's fixed-point horizontal
    pass and the rounding of its vectorised vertical pass (checked against
    OpenCV on random sizes by the tests). Bands of output rows at a time,
    from the source rows they need, in int32: a 4000 x 3000 photo takes
    tens of MiB, not its size times 45."""
    src_h, src_w = img.shape[:2]
    if (src_w, src_h) == (width, height):
        return img.copy()
    x0, x1, a0, a1 = _cv2_taps(width, src_w, clamp=True)
    y0, y1, b0, b1 = _cv2_taps(height, src_h, clamp=False)
    pixels = img.reshape(src_h, src_w, -1)
    a0 = a0.astype(np.int32)[None, :, None]
    a1 = a1.astype(np.int32)[None, :, None]
    b0 = b0.astype(np.int32)[:, None, None]
    b1 = b1.astype(np.int32)[:, None, None]
    out = np.empty((height, width, pixels.shape[2]), np.uint8)

    def rows(indices):  # the horizontal pass of these source rows
        band = pixels[indices]
        return band[:, x0].astype(np.int32) * a0 + \
            band[:, x1].astype(np.int32) * a1

    step = max(1, (1 << 20) // max(1, width * pixels.shape[2]))
    for top in range(0, height, step):
        part = slice(top, top + step)
        value = (((b0[part] * (rows(y0[part]) >> 4)) >> 16) + (
            (b1[part] * (rows(y1[part]) >> 4)) >> 16) + 2) >> 2
        out[part] = np.clip(value, 0, 255)
    return out.reshape((height, width) + img.shape[2:])


_PILLOW_FILTERS = ('nearest', 'bilinear', 'bicubic', 'box', 'lanczos',
                   'hamming')


def resize(img: np.ndarray, width: int, height: int, interpolation: str,
           backend: str) -> np.ndarray:
    """mmcv's ``imresize`` for the backends and filters this program
    reproduces: OpenCV bilinear, and every Pillow filter."""
    if backend == 'pillow' and interpolation in _PILLOW_FILTERS:
        from PIL import Image as PILImage
        filters = {name: getattr(PILImage.Resampling, name.upper())
                   for name in _PILLOW_FILTERS}
        return np.array(PILImage.fromarray(img).resize(
            (width, height), filters[interpolation]))
    if backend == 'cv2' and interpolation == 'bilinear':
        return resize_bilinear(img, width, height)
    raise ValueError(f'the model\'s test pipeline resizes with {backend} '
                     f'{interpolation!r}; this program reproduces cv2 '
                     "'bilinear' and the Pillow filters only")


def rescale_size(size: Tuple[int, int], scale) -> Tuple[int, int]:
    """mmcv's ``rescale_size``: the (w, h) of ``size`` scaled to fit
    ``scale`` (a factor, or a (long, short) bound whatever its order)."""
    width, height = size
    if isinstance(scale, (int, float)):
        factor = float(scale)
    else:
        factor = min(max(scale) / max(height, width),
                     min(scale) / min(height, width))
    return int(width * factor + 0.5), int(height * factor + 0.5)


def _positive(new_w: int, new_h: int, width: int, height: int):
    if new_w < 1 or new_h < 1:
        raise ValueError(f'a {width} x {height} image is too thin for the '
                         f'test pipeline\'s resize (to {new_w} x {new_h})')
    return new_w, new_h


def unsupported_step(step: Dict) -> ValueError:
    return ValueError(
        f'the model\'s test pipeline has a step this program does not run: '
        f'{step.get("name", step.get("type"))!r} (it runs '
        f'{", ".join(PIPELINE_STEPS)}); run tools/infer.py with the config '
        'instead')


class Geometry(NamedTuple):
    """An image after the pipeline's steps: the array, its ``img_shape``
    (H, W, as mmdet records it: a ``pad`` step counts) and the resize's
    ``scale_factor`` (w, h; ``None`` without a resize)."""
    img: np.ndarray
    img_shape: Tuple[int, int]
    scale_factor: Optional[Tuple[float, float]]


def run_pipeline(img: np.ndarray, steps: Sequence[Dict]) -> Geometry:
    """The ``pipeline`` metadata's steps on an (H, W, 3) uint8 array, as
    mmcv, mmdet and mmpretrain's transforms do them."""
    scale_factor = None
    for step in steps:
        kind = step.get('type')
        height, width = img.shape[:2]
        if kind == 'resize':
            if step.get('keep_ratio'):
                new_w, new_h = rescale_size((width, height), step['scale'])
            else:
                new_w, new_h = step['scale']
            img = resize(img, *_positive(new_w, new_h, width, height),
                         step['interpolation'], step['backend'])
            scale_factor = (new_w / width, new_h / height)
        elif kind == 'resize_edge':
            size, edge = step['scale'], step['edge']
            if (edge == 'short' and width < height) or (
                    edge == 'long' and width > height) or edge == 'width':
                new_w, new_h = size, int(size * height / width)
            else:
                new_w, new_h = int(size * width / height), size
            img = resize(img, *_positive(new_w, new_h, width, height),
                         step['interpolation'], step['backend'])
            scale_factor = (new_w / width, new_h / height)
        elif kind == 'center_crop':
            crop_w, crop_h = min(step['size'][0], width), \
                min(step['size'][1], height)
            top = max(0, int(round((height - crop_h) / 2.)))
            left = max(0, int(round((width - crop_w) / 2.)))
            img = img[top:top + crop_h, left:left + crop_w]
        elif kind == 'pad':
            if step.get('pad_to_square'):
                height = width = max(height, width)
            if step.get('size_divisor'):
                div = step['size_divisor']
                out_h, out_w = -(-height // div) * div, -(-width // div) * div
            elif step.get('size'):
                out_w, out_h = step['size']
            else:
                out_h, out_w = height, width
            padded = np.empty((max(out_h, img.shape[0]),
                               max(out_w, img.shape[1]), img.shape[2]),
                              img.dtype)
            padded[...] = np.asarray(step['value'], img.dtype)
            padded[:img.shape[0], :img.shape[1]] = img
            img = padded
        else:
            raise unsupported_step(step)
    return Geometry(np.ascontiguousarray(img), tuple(img.shape[:2]),
                    scale_factor)


# ----------------------------------------------------------- model inputs
def strip_prefix(props: Dict[str, str]) -> Dict[str, str]:
    """mmshuffle's entries of an ONNX ``metadata_props`` mapping (as
    onnxruntime's ``custom_metadata_map`` gives it), prefix removed."""
    return {k[len(META_PREFIX):]: v for k, v in props.items()
            if k.startswith(META_PREFIX)}


class InputSpec:
    """What an exported graph takes as input, from its metadata.

    The tools hand a runtime the data preprocessor's normalised batch (as
    ``tools/test.py`` hands PyTorch). A graph exported with ``raw_input``
    takes 0-255 pixels in the pipeline's channel order instead:
    :meth:`to_graph` undoes the normalisation (and the channel flip) for
    it, so that the padding, 0 after normalisation, becomes the mean
    colour, which the graph maps back to 0.

    Attributes:
        raw_input (bool), bgr_to_rgb (bool)
        mean (np.ndarray), std (np.ndarray): (1, C, 1, 1), float32; 0 and
            1 where the metadata has none.
        size_divisor (int): the multiple the input's H and W must be.
        pad_value (float): the padding's value after normalisation.
    """

    def __init__(self, meta: Dict[str, str]):
        self.raw_input = json.loads(meta.get('raw_input', 'false'))
        self.bgr_to_rgb = json.loads(meta.get('bgr_to_rgb', 'false'))
        self.mean = np.asarray(json.loads(meta.get('mean', '[0.0]')),
                               np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(json.loads(meta.get('std', '[1.0]')),
                              np.float32).reshape(1, -1, 1, 1)
        self.size_divisor = int(meta.get('size_divisor', 1))
        self.pad_value = float(json.loads(meta.get('pad_value', '0')))

    def normalise(self, img: np.ndarray) -> np.ndarray:
        """One (H, W, C) uint8 image as the data preprocessor's batch of
        one: channels first, flipped, normalised and padded to a multiple
        of :attr:`size_divisor` (float32, (1, C, H', W'))."""
        x = img.transpose(2, 0, 1)[None].astype(np.float32)
        if self.bgr_to_rgb:
            x = x[:, ::-1]
        x = (x - self.mean) / self.std
        height, width = x.shape[2:]
        div = self.size_divisor
        out = np.full((1, x.shape[1], -(-height // div) * div,
                       -(-width // div) * div), self.pad_value, np.float32)
        out[:, :, :height, :width] = x
        return out

    def to_graph(self, inputs: np.ndarray) -> np.ndarray:
        """The data preprocessor's normalised ``inputs`` (N, C, H, W) as
        the graph's input, float32 and contiguous."""
        inputs = np.asarray(inputs, dtype=np.float32)
        if self.raw_input:
            inputs = inputs * self.std + self.mean
            if self.bgr_to_rgb:
                inputs = inputs[:, ::-1]
        return np.ascontiguousarray(inputs, np.float32)

    def check_size(self, shape) -> None:
        """A ``ValueError`` unless the H and W of ``shape`` are multiples
        of :attr:`size_divisor`."""
        height, width = shape[-2:]
        if height % self.size_divisor or width % self.size_divisor:
            raise ValueError(
                f'input size {height}x{width} is not divisible by '
                f'{self.size_divisor}, which this detector needs (pad the '
                "batch: the config's data_preprocessor pad_size_divisor)")


# ----------------------------------------------------------- model outputs
def to_original_image(dets: np.ndarray, labels: np.ndarray,
                      img_shape: Sequence[int],
                      scale_factor: Optional[Sequence[float]] = None):
    """One image's graph outputs (``dets`` (K, 5), ``labels`` (K,)) as
    ``(bboxes, scores, labels)`` of its real detections in original-image
    pixels: padding rows dropped, boxes clipped to ``img_shape`` (H, W,
    the image before batch padding) and divided by the pipeline's
    ``scale_factor`` (w, h), as mmdet's ``rescale=True`` does."""
    dets, labels = np.asarray(dets), np.asarray(labels)
    keep = dets[:, 4] > 0
    boxes = dets[keep, :4].astype(np.float32).copy()
    height, width = img_shape[:2]
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    if scale_factor is not None:
        boxes /= np.tile(np.asarray(scale_factor, np.float32), 2)
    return boxes, dets[keep, 4].astype(np.float32), \
        labels[keep].astype(np.int64)


def class_name(classes: Sequence[str], label) -> str:
    label = int(label)
    return classes[label] if 0 <= label < len(classes) else f'class {label}'


def detection_records(boxes, scores, labels, classes: Sequence[str],
                      scale: float = 1.0) -> List[Dict]:
    """Detections as ``dict(label, class_name, score, bbox)`` by
    descending score, boxes divided by ``scale`` (the decoding's)."""
    scores = np.asarray(scores)
    order = np.argsort(-scores, kind='stable')
    return [
        dict(label=int(labels[i]), class_name=class_name(classes, labels[i]),
             score=round(float(scores[i]), 5),
             bbox=[round(float(v) / scale, 2) for v in boxes[i]])
        for i in order
    ]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) logits, float32."""
    logits = np.asarray(logits, np.float32)
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def top5_records(probs, classes: Sequence[str]) -> List[Dict]:
    """The five best of one image's class probabilities as
    ``dict(label, class_name, score)``."""
    probs = np.asarray(probs, np.float32)
    order = np.argsort(-probs, kind='stable')[:5]
    return [dict(label=int(i), class_name=class_name(classes, i),
                 score=round(float(probs[i]), 5)) for i in order]


# ------------------------------------------------------------------ model
class StandaloneModel:
    """An exported classifier or end-to-end detector in onnxruntime, with
    the pre- and post-processing its metadata describes.

    Raises:
        ValueError: the file has no mmshuffle metadata, is not a
            classifier or detector, or needs a step this program does not
            run.
    """

    def __init__(self, path: str, threads: int = 0):
        import onnxruntime as ort
        if not osp.isfile(path):
            raise ValueError(f'model {path!r} does not exist')
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                path, options, providers=['CPUExecutionProvider'])
        except Exception as err:  # onnxruntime's own exception types
            raise ValueError(f'onnxruntime cannot load {path!r}: '
                             f'{str(err).strip().splitlines()[0]}') from None
        meta = strip_prefix(self.session.get_modelmeta().custom_metadata_map)
        self.meta = meta
        self.task = meta.get('task')
        if self.task not in ('classification', 'detection'):
            raise ValueError(
                f'{path!r} has no mmshuffle classifier or detector metadata '
                f'(task {self.task!r}); export it with '
                'tools/deployment/pytorch2onnx.py')
        if 'pipeline' not in meta:
            raise ValueError(
                f'{path!r} does not describe its test pipeline (exported by '
                'an older mmshuffle); export it again')
        self.steps = json.loads(meta['pipeline'])
        for step in self.steps:
            if step.get('type') not in PIPELINE_STEPS:
                raise unsupported_step(step)
        self.input = InputSpec(meta)
        self.classes = json.loads(meta.get('classes', '[]'))
        palette = json.loads(meta.get('palette', 'null'))
        self.palette = [tuple(c) for c in palette] if palette else None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.input_shape = list(self.session.get_inputs()[0].shape)

    def prepare(self, image: Image) -> Tuple[np.ndarray, Geometry]:
        """One decoded image as the graph's input (1, C, H, W) and its
        geometry."""
        geometry = run_pipeline(image.bgr, self.steps)
        inputs = self.input.normalise(geometry.img)
        fixed = self.input_shape[2:]
        if self.task == 'classification' and all(
                isinstance(v, int) for v in fixed) and \
                list(inputs.shape[2:]) != fixed:
            raise ValueError(
                f'the test pipeline gives {tuple(inputs.shape[2:])} images '
                f'but the model was exported for {tuple(fixed)}')
        return self.input.to_graph(inputs), geometry

    def __call__(self, image: Image) -> List[Dict]:
        """The predictions of one decoded image: detections (boxes in the
        file's pixels) or the top-5 classes."""
        inputs, geometry = self.prepare(image)
        feeds = {self.input_names[0]: inputs}
        if 'image_hw' in self.input_names:
            feeds['image_hw'] = np.array([geometry.img_shape], np.int64)
        outputs = self.session.run(None, feeds)
        if self.task == 'classification':
            return top5_records(softmax(outputs[0])[0], self.classes)
        boxes, scores, labels = to_original_image(
            outputs[0][0], outputs[1][0], geometry.img_shape,
            geometry.scale_factor)
        return detection_records(boxes, scores, labels, self.classes,
                                 image.scale)


# ----------------------------------------------------------------- output
def _font(size):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def draw(rgb, predictions, task, score_thr, palette=None, scale=1.0):
    """The decoded image ``rgb`` with its ``predictions`` drawn on it, as
    a Pillow image: detection, the boxes scoring at least ``score_thr``
    with class and score (boxes are in file pixels: ``scale`` maps them
    to the array's); classification, the top-5."""
    from PIL import Image as PILImage
    from PIL import ImageDraw
    image = PILImage.fromarray(rgb)
    canvas = ImageDraw.Draw(image)
    size = max(12, min(image.size) // 28)
    font = _font(size)
    if task == 'detection':
        width = max(2, min(image.size) // 160)
        for det in reversed(predictions):  # the best drawn last, on top
            if det['score'] < score_thr:
                continue
            color = palette[det['label'] % len(palette)] if palette else \
                (255, 64, 64)
            x1, y1, x2, y2 = (v * scale for v in det['bbox'])
            canvas.rectangle([x1, y1, x2, y2], outline=color, width=width)
            text = f'{det["class_name"]} {det["score"]:.2f}'
            left, top, right, bottom = canvas.textbbox((0, 0), text,
                                                       font=font)
            ty = y1 - (bottom - top) - 4 if y1 - (bottom - top) - 4 >= 0 \
                else y1
            canvas.rectangle([x1, ty, x1 + right - left + 4,
                              ty + bottom - top + 4], fill=color)
            canvas.text((x1 + 2, ty + 2 - top), text, fill=(255, 255, 255),
                        font=font)
    else:
        lines = [f'{p["class_name"]} {p["score"]:.3f}' for p in predictions]
        boxes = [canvas.textbbox((0, 0), ln, font=font) for ln in lines]
        line_h = max(b[3] - b[1] for b in boxes) + 4
        panel_w = max(b[2] - b[0] for b in boxes) + 8
        overlay = PILImage.new('RGBA', image.size, (0, 0, 0, 0))
        ImageDraw.Draw(overlay).rectangle(
            [0, 0, panel_w, line_h * len(lines) + 4], fill=(0, 0, 0, 160))
        image = PILImage.alpha_composite(image.convert('RGBA'),
                                         overlay).convert('RGB')
        canvas = ImageDraw.Draw(image)
        for i, (line, box) in enumerate(zip(lines, boxes)):
            canvas.text((4, 4 + i * line_h - box[1]), line,
                        fill=(255, 255, 255) if i else (255, 220, 0),
                        font=font)
    return image


def write_atomically(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same
    folder, fsynced and renamed over it: a crash leaves the old file or
    the new one, never half of one."""
    folder = osp.dirname(osp.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def expand_inputs(inputs: Sequence[str]) -> List[str]:
    """Image paths of files, folders and glob patterns, in order, without
    repeats. A file named on the command line is taken whatever its
    name; folders and patterns give the files with image extensions.

    Raises:
        ValueError: an input that does not exist, a folder without
            images, a pattern that matches none.
    """
    paths = []
    for item in inputs:
        if osp.isdir(item):
            found = sorted(
                osp.join(item, f) for f in os.listdir(item)
                if f.lower().endswith(IMAGE_EXTS))
            if not found:
                raise ValueError(f'folder {item!r} holds no images '
                                 f'({", ".join(IMAGE_EXTS)})')
        elif osp.isfile(item):
            found = [item]
        elif glob.has_magic(item):
            found = sorted(p for p in glob.glob(item)
                           if osp.isfile(p) and p.lower().endswith(
                               IMAGE_EXTS))
            if not found:
                raise ValueError(f'pattern {item!r} matches no image')
        else:
            raise ValueError(f'input {item!r} does not exist')
        paths += [p for p in found if p not in paths]
    return paths


def output_names(paths: Sequence[str]) -> List[str]:
    """A distinct ``<stem>.png`` per input (a numeric suffix for clashes
    between folders)."""
    names, seen = [], {}
    for path in paths:
        stem = osp.splitext(osp.basename(path))[0]
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        names.append(f'{stem}.png' if count == 0 else f'{stem}_{count}.png')
    return names


class Record:
    """The predictions of a run: ``predictions.jsonl`` grows a line per
    image as it is done; ``predictions.json`` holds them all at the end."""

    def __init__(self, out_dir: str, header: Dict):
        os.makedirs(out_dir, exist_ok=True)
        self.out_dir, self.header = out_dir, header
        self.records = []
        self.lines = open(osp.join(out_dir, 'predictions.jsonl'), 'w')

    def add(self, record: Dict) -> None:
        self.records.append(record)
        self.lines.write(json.dumps(record) + '\n')
        self.lines.flush()

    def add_result(self, path: str, picture: str, image: Image, task: str,
                   predictions: List[Dict]) -> None:
        """One image's predictions (and where its picture went)."""
        entry = {'image': path, 'picture': picture, 'size': list(image.size),
                 'detections' if task == 'detection' else 'top5':
                 predictions}
        if image.notes:
            entry['read'] = list(image.notes)
        self.add(entry)

    @property
    def failed(self) -> int:
        return sum('error' in r for r in self.records)

    def close(self, interrupted: bool = False) -> None:
        self.lines.close()
        summary = dict(self.header, interrupted=interrupted,
                       failed=self.failed, predictions=self.records)
        write_atomically(json.dumps(summary, indent=1).encode(),
                         osp.join(self.out_dir, 'predictions.json'))


def save_picture(picture, path: str) -> None:
    buffer = io.BytesIO()
    picture.save(buffer, format='PNG')
    write_atomically(buffer.getvalue(), path)


def summary_line(task: str, record: Dict, score_thr: float) -> str:
    """One image's result in a few words."""
    if 'error' in record:
        return f'skipped: {record["error"]}'
    if task == 'detection':
        shown = [d for d in record['detections'] if d['score'] >= score_thr]
        text = ', '.join(f'{d["class_name"]} {d["score"]:.2f}'
                         for d in shown[:5]) or 'nothing'
        return f'{len(shown)} box(es): {text}'
    best = record['top5'][0]
    return f'{best["class_name"]} {best["score"]:.3f}'


def finish(record: Record, task: str, score_thr: float, what: str) -> None:
    """Close the record, print each image's summary (up to 20) and the
    totals; exit 1 if an image could not be read."""
    record.close()
    if len(record.records) <= 20:
        for entry in record.records:
            print(f'{entry["image"]}: '
                  f'{summary_line(task, entry, score_thr)}')
    failed = record.failed
    print(f'{len(record.records) - failed} image(s) with {what}: pictures '
          f'and predictions in {record.out_dir}' +
          (f'; {failed} could not be read' if failed else ''))
    if failed:
        sys.exit(1)


def interrupted(record: Record, total: int) -> None:
    """Ctrl-C: keep what was done, say so, exit 130."""
    record.close(interrupted=True)
    print(f'\ninterrupted (Ctrl-C): {len(record.records)} of {total} '
          'image(s) done, in '
          f'{osp.join(record.out_dir, "predictions.json")}', file=sys.stderr)
    sys.exit(130)


# -------------------------------------------------------------------- CLI
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run an exported mmshuffle model with onnxruntime, '
        'numpy and Pillow only.')
    parser.add_argument('model', help='an .onnx file exported by '
                        'tools/deployment/pytorch2onnx.py (or quantized)')
    parser.add_argument('inputs', nargs='+', metavar='IMAGE',
                        help='images, folders or glob patterns')
    parser.add_argument('--out-dir', default='work_dirs/standalone_infer',
                        help='where pictures and predictions go')
    parser.add_argument('--threads', type=int, default=0,
                        help='onnxruntime threads (0 = its default)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: draw boxes scoring at least this')
    parser.add_argument('--max-pixels', type=int, default=MAX_PIXELS,
                        help='larger images are decoded smaller (JPEG) or '
                        'skipped (default 100 megapixels)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        if args.threads < 0:
            raise ValueError(f'--threads must be >= 0, got {args.threads}')
        if not 0 <= args.score_thr <= 1:
            raise ValueError(f'--score-thr must be in [0, 1], got '
                             f'{args.score_thr}')
        if args.max_pixels < 1:
            raise ValueError(f'--max-pixels must be >= 1, got '
                             f'{args.max_pixels}')
        paths = expand_inputs(args.inputs)
        model = StandaloneModel(args.model, args.threads)
    except (ValueError, ImportError) as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(2)
    record = Record(args.out_dir, dict(
        model=args.model, backend='onnxruntime (standalone)',
        task=model.task, classes=model.classes))
    try:
        for path, name in zip(paths, output_names(paths)):
            try:
                image = read_image(path, args.max_pixels)
            except ImageReadError as err:
                print(f'error: {err}', file=sys.stderr)
                record.add({'image': path, 'error': str(err)})
                continue
            try:
                predictions = model(image)
            except ValueError as err:
                record.close()
                print(f'error: {err}', file=sys.stderr)
                sys.exit(2)
            picture = osp.join(args.out_dir, name)
            save_picture(draw(image.rgb, predictions, model.task,
                              args.score_thr, model.palette, image.scale),
                         picture)
            record.add_result(path, picture, image, model.task, predictions)
    except KeyboardInterrupt:
        interrupted(record, len(paths))
    finish(record, model.task, args.score_thr, 'onnxruntime (standalone)')


if __name__ == '__main__':
    main()
