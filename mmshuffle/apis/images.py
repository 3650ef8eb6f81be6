"""Reading the image files people have: one decode, shared by the model's
input and the picture drawn on it.

:func:`read_image` gives an 8-bit RGB array for every file Pillow reads,
turned upright and in 8 bits:

* EXIF orientation applied (a phone photo comes out as it was shot, and
  the boxes are drawn where they were found);
* grayscale (``L``, ``I``, ``F``), palette (``P``), CMYK JPEGs and YCbCr
  converted to RGB;
* transparency (``RGBA``, ``LA``, ``P`` with a transparent colour)
  composited over white;
* 16-bit PNG and TIFF scaled to 8 bits (``value / 257``; 32-bit and
  float gray images from their own range);
* images over ``max_pixels`` (100 megapixels by default) refused with
  their size named, except JPEGs, which are decoded at the largest of
  1/2, 1/4 or 1/8 of their size that fits (the ``scale`` of the result:
  boxes are mapped back to the file's pixels by the caller).

A file that is not an image, is empty or truncated raises
:class:`ImageReadError` naming the file and why.
"""
import os.path as osp
import warnings
from typing import NamedTuple

import numpy as np

#: the default limit of :func:`read_image` (Pillow's own is 89 megapixels,
#: and 179 an error)
MAX_PIXELS = 100_000_000


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


def read_image(path: str, max_pixels: int = MAX_PIXELS) -> Image:
    """Decode the image file ``path`` (see the module docstring).

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
        scale = 1.0
        if width * height > max_pixels:
            if image.format != 'JPEG':
                raise ImageReadError(
                    f'{path}: {width} x {height} = {width * height / 1e6:.0f}'
                    f' megapixels, over the limit of {max_pixels / 1e6:.0f} '
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
                    f'{path}: {width} x {height} is too large even at 1/8 '
                    f'size (limit {max_pixels / 1e6:.0f} megapixels)')
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
