_base_ = [
    '../_base_/models/light-head-rcnn.py',
    '../_base_/datasets/coco_detection_1200x800.py',
    '../_base_/schedules/light_head_20e.py',
    '../_base_/default_runtime_det.py',
]
# Light-Head R-CNN (small setting) on ShuffleNet V2 1.5x, as in the ShuffleNet V2
# paper's COCO table (input 800 x 1200; see configs/light_head_rcnn/
# README.md). The RPN reads the stride-16 output (352 channels), the light
# head the last one (1024 channels, stride 32). ImageNet weights: a local
# file (see docs/weights.md), override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/shufflenet-v2-1.5x_16xb64_in1k.pth'
model = dict(
    backbone=dict(
        type='mmshuffle.ShuffleNetV2',
        widen_factor=1.5,
        out_indices=(1, 3),
        # the authors freeze the stem and the first stage and keep every
        # backbone BN frozen
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    rpn_head=dict(in_channels=352),
    roi_head=dict(bbox_roi_extractor=dict(in_channels=1024)),
)
