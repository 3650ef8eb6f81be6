_base_ = [
    '../_base_/models/faster-rcnn_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime_det.py',
]
# ImageNet weights: a local file (see docs/detection.md), override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/mobilenet-v2-1x_8xb32_in1k.pth'
model = dict(
    backbone=dict(
        type='mmshuffle.MobileNetV2',
        widen_factor=1.0,
        out_indices=(2, 4, 6),  # layer3/5/7: strides 8, 16, 32
        # small per-GPU batches: freeze the stem and first stage and keep
        # every BN in eval mode (as mmdet does for ResNets); for multi-GPU
        # training SyncBN is the alternative:
        # norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[32, 96, 320]),
)
