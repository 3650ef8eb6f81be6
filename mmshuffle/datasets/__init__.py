from .toy import (DET_CLASSES, SHAPES, make_toy_classification,
                  make_toy_detection)

__all__ = [
    'DET_CLASSES', 'SHAPES', 'make_toy_classification', 'make_toy_detection'
]
