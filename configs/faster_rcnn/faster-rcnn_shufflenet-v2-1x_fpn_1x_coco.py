_base_ = [
    '../_base_/models/faster-rcnn_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime_det.py',
]
# ImageNet weights: a local file (see docs/detection.md), override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/shufflenet-v2-1x_16xb64_in1k.pth'
model = dict(
    backbone=dict(
        type='mmshuffle.ShuffleNetV2',
        widen_factor=1.0,
        out_indices=(0, 1, 2),
        # small per-GPU batches: freeze the stem and first stage and keep
        # every BN in eval mode (as mmdet does for ResNets); for multi-GPU
        # training SyncBN is the alternative:
        # norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[116, 232, 464]),
)
