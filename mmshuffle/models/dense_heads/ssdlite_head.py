"""The SSDLite head (SSD's with depthwise-separable predictors)."""
from mmdet.models.dense_heads import SSDHead

from mmshuffle.registry import MODELS

from ..utils import check_bool


@MODELS.register_module()
class SSDLiteHead(SSDHead):
    """mmdet's ``SSDHead`` with ``use_depthwise=True`` (the MobileNetV2
    paper's SSDLite: every 3x3 predictor conv is a 3x3 depthwise conv with
    BN and activation followed by a 1x1 conv), which also predicts.

    mmdet 3.3's ``SSDHead`` trains but cannot predict: the shared
    post-processing reads ``self.loss_cls``, which ``SSDHead`` (whose
    classification loss is its own hard-negative-mined cross-entropy) never
    defines, so ``model.predict`` raises ``AttributeError: 'SSDHead' object
    has no attribute 'loss_cls'`` (open-mmlab/mmdetection issues 11063 and
    11780). This head defines it as ``None``: scores are the softmax over
    the classes, as SSD's. Everything else is ``SSDHead``'s.
    """

    def __init__(self, *args, use_depthwise: bool = True, **kwargs):
        check_bool('use_depthwise', use_depthwise)
        super().__init__(*args, use_depthwise=use_depthwise, **kwargs)
        # read by mmdet's post-processing only; SSD's loss is in loss_by_feat
        self.loss_cls = None
