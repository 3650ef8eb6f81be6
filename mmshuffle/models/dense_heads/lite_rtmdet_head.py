"""RTMDet's head with depthwise-separable convs shared over the levels."""
from mmcv.cnn import DepthwiseSeparableConvModule
from mmdet.models.dense_heads import RTMDetSepBNHead

from mmshuffle.registry import MODELS

from ..utils import check_bool


@MODELS.register_module()
class LiteRTMDetHead(RTMDetSepBNHead):
    """RTMDetSepBNHead whose depthwise-separable tower convs are shared
    over the pyramid levels.

    mmdet's ``RTMDetSepBNHead`` shares the convolutions of its classification
    and regression towers over the levels and keeps one BatchNorm per level
    (``share_conv=True``), and can make them depthwise-separable
    (``use_depthwise=True``), but not both: mmdet 3.3 shares them through a
    ``.conv`` attribute that ``DepthwiseSeparableConvModule`` does not have,
    so that combination fails to build. Here each level's 3x3 depthwise and
    1x1 pointwise convs are the first level's (weights shared), with their
    own BatchNorm per level, as in the dense-conv head: the towers' conv
    weights count once whatever the number of levels. The 1x1 predictors
    stay per level, and everything else (priors, assigner, losses,
    post-processing) is ``RTMDetSepBNHead``'s, as are the other arguments.

    Args:
        use_depthwise (bool): depthwise-separable tower convs (3x3
            depthwise + 1x1 pointwise, each with BN and activation); with
            False this is ``RTMDetSepBNHead``. Default: True.
        share_conv (bool): share the tower convs over the levels.
            Default: True.
    """

    def __init__(self,
                 *args,
                 use_depthwise: bool = True,
                 share_conv: bool = True,
                 **kwargs):
        check_bool('use_depthwise', use_depthwise)
        check_bool('share_conv', share_conv)
        super().__init__(
            *args,
            use_depthwise=use_depthwise,
            share_conv=share_conv,
            **kwargs)

    def _init_layers(self) -> None:
        share, self.share_conv = self.share_conv, False
        super()._init_layers()  # one set of convs per level
        self.share_conv = share
        if not share:
            return
        for towers in (self.cls_convs, self.reg_convs):
            first = towers[0]
            for level in towers[1:]:
                for module, ref in zip(level, first):
                    if isinstance(module, DepthwiseSeparableConvModule):
                        module.depthwise_conv.conv = ref.depthwise_conv.conv
                        module.pointwise_conv.conv = ref.pointwise_conv.conv
                    else:
                        module.conv = ref.conv
