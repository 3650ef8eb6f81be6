"""A RetinaNet head sized for mobile detectors."""
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.dense_heads import RetinaHead
from torch import nn

from mmshuffle.registry import MODELS


@MODELS.register_module()
class LiteRetinaHead(RetinaHead):
    """RetinaHead with depthwise-separable convs.

    The stacked 3x3 convs of both towers are depthwise-separable (with BN,
    shared over pyramid levels), and each predictor is a 3x3 depthwise conv
    followed by a 1x1 conv to ``num_anchors x classes`` (resp. ``x 4``)
    channels. Everything else (anchors, assigner, losses, post-processing)
    is mmdet's ``RetinaHead``. In the stock head the two 3x3 predictors
    alone cost more than a ShuffleNet backbone at COCO resolutions.
    """

    def __init__(self, *args, norm_cfg=dict(type='BN'), **kwargs):
        kwargs.setdefault(
            'init_cfg',
            dict(
                type='Normal',
                layer='Conv2d',
                std=0.01,
                override=dict(
                    type='Normal', name='retina_cls', std=0.01,
                    bias_prob=0.01)))
        super().__init__(*args, norm_cfg=norm_cfg, **kwargs)

    def _init_layers(self):
        self.relu = nn.ReLU(inplace=True)
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        in_channels = self.in_channels
        for _ in range(self.stacked_convs):
            for convs in (self.cls_convs, self.reg_convs):
                convs.append(
                    DepthwiseSeparableConvModule(
                        in_channels,
                        self.feat_channels,
                        3,
                        padding=1,
                        norm_cfg=self.norm_cfg))
            in_channels = self.feat_channels

        def depthwise(channels):
            return ConvModule(
                channels,
                channels,
                3,
                padding=1,
                groups=channels,
                norm_cfg=self.norm_cfg,
                act_cfg=None)

        self.cls_dw = depthwise(in_channels)
        self.reg_dw = depthwise(in_channels)
        self.retina_cls = nn.Conv2d(
            in_channels, self.num_base_priors * self.cls_out_channels, 1)
        self.retina_reg = nn.Conv2d(
            in_channels, self.num_base_priors * self.bbox_coder.encode_size,
            1)

    def forward_single(self, x):
        cls_feat = reg_feat = x
        for conv in self.cls_convs:
            cls_feat = conv(cls_feat)
        for conv in self.reg_convs:
            reg_feat = conv(reg_feat)
        cls_score = self.retina_cls(self.cls_dw(cls_feat))
        bbox_pred = self.retina_reg(self.reg_dw(reg_feat))
        return cls_score, bbox_pred
