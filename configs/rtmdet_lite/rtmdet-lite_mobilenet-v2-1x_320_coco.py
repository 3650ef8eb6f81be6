_base_ = './rtmdet-lite_shufflenet-v2-1x_320_coco.py'
# RTMDet-lite on MobileNet V2 1x at 320x320: layers 3, 5 and 7
# (strides 8, 16, 32) into the ShuffleNet V2 config's neck and head, same
# recipe. ImageNet weights: a local file (see docs/detection.md), override
# with --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/mobilenet-v2-1x_8xb32_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmshuffle.MobileNetV2',
        widen_factor=1.0,
        out_indices=(2, 4, 6),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[32, 96, 320]),
)
