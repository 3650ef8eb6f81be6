# RTMDet-lite: an RTMDet/NanoDet-class anchor-free detector sized for
# mobile backbones. mmdet's RTMDet with
# - mmshuffle.LitePAFPN: 1x1 convs bring every backbone output to 96
#   channels (as NanoDet-Plus's Ghost-PAN), then mmdet's CSPNeXtPAFPN path
#   aggregation at 96 channels with depthwise-separable 3x3 convs
#   (use_depthwise=True) in its CSP blocks, downsamplings and output convs;
# - mmshuffle.LiteRTMDetHead: RTMDet's head (RTMDetSepBNHead) with 2
#   depthwise-separable convs per tower, shared over the levels with BN per
#   level, and 1x1 predictors;
# trained with dynamic soft-label assignment, quality focal loss and GIoU
# loss. Levels P3-P5 (strides 8, 16, 32) from the backbone's three outputs.
# Leaf configs add `backbone` and `neck.in_channels`.
model = dict(
    type='RTMDet',
    _scope_='mmdet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        batch_augments=None),
    neck=dict(
        type='mmshuffle.LitePAFPN',
        out_channels=96,
        num_csp_blocks=1,
        expand_ratio=0.5,
        use_depthwise=True,
        norm_cfg=dict(type='BN', momentum=0.03, eps=0.001),
        act_cfg=dict(type='SiLU', inplace=True)),
    bbox_head=dict(
        type='mmshuffle.LiteRTMDetHead',
        num_classes=80,
        in_channels=96,
        stacked_convs=2,
        feat_channels=96,
        use_depthwise=True,
        anchor_generator=dict(
            type='MlvlPointGenerator', offset=0, strides=[8, 16, 32]),
        bbox_coder=dict(type='DistancePointBBoxCoder'),
        loss_cls=dict(
            type='QualityFocalLoss',
            use_sigmoid=True,
            beta=2.0,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        with_objectness=False,
        exp_on_reg=False,
        share_conv=True,
        pred_kernel_size=1,
        norm_cfg=dict(type='BN', momentum=0.03, eps=0.001),
        act_cfg=dict(type='SiLU', inplace=True)),
    train_cfg=dict(
        assigner=dict(type='DynamicSoftLabelAssigner', topk=13),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        nms_pre=30000,
        min_bbox_size=0,
        score_thr=0.001,
        nms=dict(type='nms', iou_threshold=0.65),
        max_per_img=300))
