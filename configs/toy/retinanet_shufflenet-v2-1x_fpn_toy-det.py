_base_ = [
    '../_base_/models/retinanet_fpn.py',
    '../_base_/datasets/toy_det.py',
    '../_base_/default_runtime_det.py',
    '../_base_/schedules/toy_det_12e.py',
]
# RetinaNet (mmdet's FPN and RetinaHead) on ShuffleNet V2 1x, CPU-sized:
# 128-channel FPN, 2 convs per head tower (the COCO config has 256 and 4),
# on the built-in toy shapes. The backbone starts from the toy classification
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
    bbox_head=dict(
        num_classes=4,
        in_channels=128,
        feat_channels=128,
        stacked_convs=2,
        # toy objects are 12-128 px: anchors 16-25 px at P3 .. 256 at P7
        anchor_generator=dict(octave_base_scale=2)),
)
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(logger=dict(interval=20))
randomness = dict(seed=0)
