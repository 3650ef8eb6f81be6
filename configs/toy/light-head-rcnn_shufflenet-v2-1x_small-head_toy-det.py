_base_ = [
    '../_base_/models/light-head-rcnn.py',
    '../_base_/datasets/toy_det.py',
    '../_base_/default_runtime_det.py',
    '../_base_/schedules/toy_det_12e.py',
]
# Light-Head R-CNN (small setting) on ShuffleNet V2 1x, CPU-sized for the
# built-in toy shapes (320 x 320): the COCO config's layout (RPN at stride
# 16, thin map of 10 x 7 x 7 channels from the stride-32 conv5 through a
# 15-wide large separable conv, one 2048-wide fc) with a 512-wide fc, 128 RPN
# channels, anchors of 16-256 px, at most 300 proposals and 128 OHEM RoIs per
# image (a toy image has at most 6 objects). The backbone starts from the
# toy classification demo's checkpoint, standing in for ImageNet weights
# (same Pretrained path as the COCO configs); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'work_dirs/demo_toy_shapes/epoch_30.pth'
model = dict(
    backbone=dict(
        type='mmshuffle.ShuffleNetV2',
        widen_factor=1.0,
        out_indices=(1, 3),
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    rpn_head=dict(
        in_channels=232,
        feat_channels=128,
        anchor_generator=dict(scales=[1, 2, 4, 8, 16])),
    roi_head=dict(
        bbox_roi_extractor=dict(in_channels=1024),
        bbox_head=dict(fc_out_channels=512, num_classes=4)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=1000, max_per_img=300), rcnn=dict(score_thr=0.05)),
)
default_hooks = dict(logger=dict(interval=20))
randomness = dict(seed=0)
