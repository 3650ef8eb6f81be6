# Light-Head R-CNN, small setting (the ShuffleNet V2 paper's COCO detector;
# see configs/light_head_rcnn/README.md for what is the authors' and what
# is inferred). Leaf configs add the backbone, which returns two maps: one
# at stride 16 for the RPN and the last one, at stride 32, for the light
# head; they set rpn_head.in_channels and the extractor's in_channels.
model = dict(
    type='FasterRCNN',
    _scope_='mmdet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    rpn_head=dict(
        type='mmshuffle.SingleLevelRPNHead',
        in_index=0,
        feat_channels=256,
        # 15 anchors: 32-512 px (scales 2-32 x stride 16), ratios 1:2-2:1
        anchor_generator=dict(
            type='AnchorGenerator',
            scales=[2, 4, 8, 16, 32],
            ratios=[0.5, 1.0, 2.0],
            strides=[16]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        # the authors' smooth L1 with sigma 3
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=1.0)),
    roi_head=dict(
        type='mmshuffle.LightHeadRoIHead',
        bbox_roi_extractor=dict(
            type='mmshuffle.PSRoIAlignExtractor',
            featmap_strides=[16, 32],
            in_index=1,
            output_size=7,
            thin_channels=490,  # 10 x 7 x 7
            mid_channels=64,  # the small setting (256: the large one)
            kernel_size=15,
            sampling_ratio=2),
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_convs=0,
            num_shared_fcs=1,
            in_channels=10,
            roi_feat_size=7,
            fc_out_channels=2048,
            num_classes=80,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            # the authors' smooth L1 (sigma 1), weighted 2
            loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=2.0))),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.7,
                neg_iou_thr=0.3,
                min_pos_iou=0.3,
                match_low_quality=True,
                ignore_iof_thr=-1),
            sampler=dict(
                type='RandomSampler',
                num=256,
                pos_fraction=0.5,
                neg_pos_ub=-1,
                add_gt_as_proposals=False),
            # anchors crossing the image border are ignored
            allowed_border=0,
            pos_weight=-1,
            debug=False),
        rpn_proposal=dict(
            nms_pre=12000,
            max_per_img=2000,
            nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0),
        rcnn=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.5,
                min_pos_iou=0.5,
                match_low_quality=False,
                ignore_iof_thr=-1),
            # online hard example mining (mmdet's OHEMSampler): of each
            # image's RoIs, the 64 positives and then the negatives of
            # highest loss, 256 in all
            sampler=dict(
                type='OHEMSampler',
                num=256,
                pos_fraction=0.25,
                neg_pos_ub=-1,
                add_gt_as_proposals=True),
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(
        rpn=dict(
            nms_pre=6000,
            max_per_img=1000,
            nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0),
        rcnn=dict(
            score_thr=0.0,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=100)))
