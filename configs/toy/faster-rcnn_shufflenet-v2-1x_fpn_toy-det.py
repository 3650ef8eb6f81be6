_base_ = [
    '../_base_/models/faster-rcnn_fpn.py',
    '../_base_/datasets/toy_det.py',
    '../_base_/default_runtime_det.py',
    '../_base_/schedules/toy_det_12e.py',
]
# Faster R-CNN (mmdet's FPN, RPN and RoI head) on ShuffleNet V2 1x,
# CPU-sized: 128-channel FPN and RoI features, 512-d box head (the COCO
# config has 256 and 1024), at most 300 proposals and 128 sampled RoIs per
# image (COCO: 1000 and 512; a toy image has at most 6 objects), on the
# built-in toy shapes. The backbone starts from the toy classification
# demo's checkpoint, standing in for ImageNet weights (same Pretrained path
# as the COCO configs); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'work_dirs/demo_toy_shapes/epoch_30.pth'
model = dict(
    backbone=dict(
        type='mmshuffle.ShuffleNetV2',
        widen_factor=1.0,
        out_indices=(0, 1, 2),
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[116, 232, 464], out_channels=128),
    rpn_head=dict(
        in_channels=128,
        feat_channels=128,
        # toy objects are 12-128 px: anchors 16 px at P3 .. 256 at P7
        anchor_generator=dict(scales=[2])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(
            in_channels=128, fc_out_channels=512, num_classes=4)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300)),
)
default_hooks = dict(logger=dict(interval=20))
randomness = dict(seed=0)
