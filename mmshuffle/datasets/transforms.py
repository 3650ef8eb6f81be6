"""Image loading that names the file it could not read.

mmcv's ``LoadImageFromFile`` reports an undecodable file with a bare
``AssertionError`` and a missing one with whatever the file backend
raises, deep inside a data-loader worker's traceback. The configs use
``type='mmshuffle.LoadImageFromFile'``, which loads exactly as mmcv's
(same arguments, same results) and raises :class:`ImageLoadError` naming
the file and the problem instead. ``ignore_empty=True`` keeps mmcv's
meaning (an unreadable image yields ``None``).
"""
import os.path as osp

from mmcv.transforms import LoadImageFromFile as _MMCVLoadImageFromFile

from mmshuffle.registry import TRANSFORMS

from .checks import DataError


class ImageLoadError(DataError):
    """An image file is missing or cannot be decoded."""


@TRANSFORMS.register_module()
class LoadImageFromFile(_MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` with errors that name the file."""

    def transform(self, results: dict):
        filename = results['img_path']
        try:
            out = super().transform(results)
        except Exception as err:  # noqa: BLE001 (re-raised, clearer)
            if self.ignore_empty:
                return None
            if not osp.isfile(filename):
                raise ImageLoadError(
                    f'image file {filename!r} does not exist') from None
            raise ImageLoadError(
                f'cannot decode image file {filename!r} '
                f'({osp.getsize(filename)} bytes): it is corrupt or not an '
                f'image ({type(err).__name__}: {err})') from None
        return out
