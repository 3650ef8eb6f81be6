# SSDLite (MobileNetV2 paper, Sec. 6.2): SSD whose extra layers and
# predictors are depthwise-separable, as mmdet's
# ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py: two backbone outputs
# (strides 16 and 32) and four extra stride-2 levels (mmdet's SSDNeck: 1x1
# -> 3x3 depthwise, stride 2 -> 1x1, to 512/256/256/128 channels), 6
# anchors per location ({1, 2, 1/2, 3, 1/3} x min size and one at
# sqrt(min x max)), ReLU6, BN eps 1e-3 momentum 0.03. The head is mmdet's
# SSDHead with depthwise-separable predictors (mmshuffle.SSDLiteHead, which
# also predicts under mmdet 3.3). Leaf configs add `backbone` and the
# neck's/head's channels (the first two are the backbone's outputs).
model = dict(
    type='SingleStageDetector',
    _scope_='mmdet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1),
    neck=dict(
        type='SSDNeck',
        level_strides=(2, 2, 2, 2),
        level_paddings=(1, 1, 1, 1),
        l2_norm_scale=None,
        use_depthwise=True,
        norm_cfg=dict(type='BN', eps=0.001, momentum=0.03),
        act_cfg=dict(type='ReLU6'),
        init_cfg=dict(type='TruncNormal', layer='Conv2d', std=0.03)),
    bbox_head=dict(
        type='mmshuffle.SSDLiteHead',
        num_classes=80,
        use_depthwise=True,
        norm_cfg=dict(type='BN', eps=0.001, momentum=0.03),
        act_cfg=dict(type='ReLU6'),
        init_cfg=dict(type='Normal', layer='Conv2d', std=0.001),
        # anchor sizes for 320x320 inputs (feature maps 20, 10, 5, 3, 2, 1)
        anchor_generator=dict(
            type='SSDAnchorGenerator',
            scale_major=False,
            strides=[16, 32, 64, 107, 160, 320],
            ratios=[[2, 3], [2, 3], [2, 3], [2, 3], [2, 3], [2, 3]],
            min_sizes=[48, 100, 150, 202, 253, 304],
            max_sizes=[100, 150, 202, 253, 304, 320]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[0.1, 0.1, 0.2, 0.2])),
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.5,
            min_pos_iou=0.,
            ignore_iof_thr=-1,
            gt_max_assign_all=False),
        sampler=dict(type='PseudoSampler'),
        smoothl1_beta=1.,
        allowed_border=-1,
        pos_weight=-1,
        neg_pos_ratio=3,
        debug=False),
    test_cfg=dict(
        nms_pre=1000,
        nms=dict(type='nms', iou_threshold=0.45),
        min_bbox_size=0,
        score_thr=0.02,
        max_per_img=200))
