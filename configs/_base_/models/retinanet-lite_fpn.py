# RetinaNet-lite: mmshuffle's LiteFPN (96 channels, depthwise-separable)
# and LiteRetinaHead (2 depthwise-separable convs per tower, depthwise +
# 1x1 predictors, 3 anchors per location) on an mmshuffle backbone. Leaf
# configs add `backbone` and `neck.in_channels`. Levels P3-P7, strides
# 8-128, as the stock RetinaNet.
model = dict(
    type='RetinaNet',
    _scope_='mmdet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    neck=dict(type='mmshuffle.LiteFPN', out_channels=96, num_outs=5),
    bbox_head=dict(
        type='mmshuffle.LiteRetinaHead',
        num_classes=80,
        in_channels=96,
        stacked_convs=2,
        feat_channels=96,
        anchor_generator=dict(
            type='AnchorGenerator',
            octave_base_scale=5,
            scales_per_octave=1,
            ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.4,
            min_pos_iou=0,
            ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=100))
