"""Image loading that names the file it could not read.

mmcv's ``LoadImageFromFile`` reports an undecodable file with a bare
``AssertionError`` and a missing one with whatever the file backend
raises, deep inside a data-loader worker's traceback.
``type='mmshuffle.LoadImageFromFile'`` loads exactly as mmcv's (same
arguments, same results) and raises :class:`ImageLoadError` naming the
file and the problem instead; ``ignore_empty=True`` keeps mmcv's meaning
(an unreadable image yields ``None``). ``tools/train.py`` and
``tools/test.py`` use it in place of mmcv's (see
:func:`name_unreadable_images`).
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


#: the type names under which configs use mmcv's loader
_PLAIN = ('LoadImageFromFile', 'mmcv.LoadImageFromFile')


def name_unreadable_images(dataset: dict) -> None:
    """Load images of ``dataset`` (a dataset config, wrappers included)
    with :class:`LoadImageFromFile`, in place.

    The configs keep mmcv's plain ``type='LoadImageFromFile'``: mmdet's
    ``DetInferencer`` and mmpretrain's inferencers look for that name in
    the test pipeline. ``tools/train.py`` and ``tools/test.py`` switch it
    for their runs.
    """
    if not isinstance(dataset, dict):
        return
    for sub in dataset.get('datasets') or []:
        name_unreadable_images(sub)
    name_unreadable_images(dataset.get('dataset'))
    for step in dataset.get('pipeline') or []:
        if isinstance(step, dict) and step.get('type') in _PLAIN:
            step['type'] = 'mmshuffle.LoadImageFromFile'
