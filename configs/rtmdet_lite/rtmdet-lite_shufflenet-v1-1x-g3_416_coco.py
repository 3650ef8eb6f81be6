_base_ = './rtmdet-lite_shufflenet-v2-1x_416_coco.py'
# RTMDet-lite on ShuffleNet V1 1x (g=3) at 416x416: stages 2-4
# (strides 8, 16, 32) into the ShuffleNet V2 config's neck and head, same
# recipe. ImageNet weights: a local file (see docs/detection.md), override
# with --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/shufflenet-v1-1x-g3_16xb64_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmshuffle.ShuffleNetV1',
        groups=3,
        widen_factor=1.0,
        out_indices=(0, 1, 2),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[240, 480, 960]),
)
