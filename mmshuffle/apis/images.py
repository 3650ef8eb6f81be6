"""Reading the image files people have: one decode, shared by the model's
input and the picture drawn on it.

:func:`read_image` gives an 8-bit RGB array for every file Pillow reads,
turned upright and in 8 bits (EXIF orientation applied; grayscale,
palette, CMYK, transparency and 16-bit files converted; images over
``max_pixels`` refused, except JPEGs, which are decoded at 1/2, 1/4 or 1/8
of their size). A file that is not an image, is empty or truncated raises
:class:`ImageReadError` naming the file and why.

The implementation is :mod:`mmshuffle.deploy.standalone`'s, the one-file
program that runs exported models without PyTorch: both decode a file the
same way.
"""
from mmshuffle.deploy.standalone import (MAX_PIXELS, Image, ImageReadError,
                                         read_image)

__all__ = ['MAX_PIXELS', 'Image', 'ImageReadError', 'read_image']
