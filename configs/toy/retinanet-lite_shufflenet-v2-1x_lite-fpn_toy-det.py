_base_ = [
    '../_base_/models/retinanet-lite_fpn.py',
    '../_base_/datasets/toy_det.py',
    '../_base_/default_runtime_det.py',
    '../_base_/schedules/toy_det_12e.py',
]
# RetinaNet-lite (LiteFPN + LiteRetinaHead, as the COCO lite configs) on
# ShuffleNet V2 1x, on the built-in toy shapes; compare with
# retinanet_shufflenet-v2-1x_fpn_toy-det.py for the speed/accuracy trade. The backbone starts from the toy classification
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
    neck=dict(in_channels=[116, 232, 464]),
    bbox_head=dict(
        num_classes=4,
        # toy objects are 12-128 px: anchors 20 px at P3 .. 320 at P7
        anchor_generator=dict(octave_base_scale=2.5)),
)
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(logger=dict(interval=20))
randomness = dict(seed=0)
