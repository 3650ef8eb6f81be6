"""An mmpretrain ``ImageClassifier`` around a backbone config, built and
initialised in one call (benchmarks, converters' checks, tests)."""
import logging
from typing import Optional

from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from torch import nn


def build_classifier(backbone: dict,
                     channels: Optional[int] = None,
                     num_classes: int = 1000,
                     neck: Optional[dict] = None,
                     head: Optional[dict] = None) -> nn.Module:
    """An mmpretrain ``ImageClassifier`` (GAP + linear head) on
    ``backbone``, initialised.

    Args:
        backbone (dict): the backbone config, scope-qualified type.
        channels (int, optional): the head's input width. By default the
            backbone's last ``out_channels`` (every mmshuffle backbone
            reports it); required for backbones that do not report it, and
            checked against it for those that do.
        num_classes (int): classes of the linear head. Default: 1000.
        neck, head (dict, optional): other classifier parts than GAP and
            a linear head (ShuffleNetV2+'s SE neck and bias-free head).
    """
    from mmpretrain.models import ImageClassifier
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        module = MODELS.build(backbone)
        reported = getattr(module, 'out_channels', None)
        if reported is not None:
            if channels is not None and channels != reported[-1]:
                raise ValueError(
                    f'channels={channels!r} does not match the backbone '
                    f'{backbone["type"]}, whose last output has '
                    f'{reported[-1]} channels')
            channels = reported[-1]
        elif channels is None:
            raise TypeError(
                f'channels is required for {backbone["type"]}, which does '
                'not report its out_channels')
        model = ImageClassifier(
            backbone=module,
            neck=neck or dict(type='GlobalAveragePooling'),
            head=head or dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=channels,
                loss=dict(type='CrossEntropyLoss')))
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


def head_channels(classifier: nn.Module) -> int:
    """The input width of an ``ImageClassifier``'s linear head."""
    return classifier.head.fc.in_features
