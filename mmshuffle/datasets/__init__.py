from .toy import SHAPES, make_toy_classification

__all__ = ['SHAPES', 'make_toy_classification']
