from .checks import (DataError, check_classification_list,
                     check_coco_annotations, check_dataloader)
from .toy import (DET_CLASSES, SHAPES, make_toy_classification,
                  make_toy_detection)
from .transforms import (ImageLoadError, LoadImageFromFile,
                         name_unreadable_images)

__all__ = [
    'DET_CLASSES', 'SHAPES', 'DataError', 'ImageLoadError',
    'LoadImageFromFile', 'check_classification_list',
    'check_coco_annotations', 'check_dataloader', 'make_toy_classification',
    'make_toy_detection', 'name_unreadable_images'
]
