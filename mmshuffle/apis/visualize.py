"""Predictions drawn on the image they were made on
(:func:`~mmshuffle.deploy.standalone.draw`, which the one-file standalone
program draws with too)."""
from mmshuffle.deploy.standalone import draw

__all__ = ['draw']
