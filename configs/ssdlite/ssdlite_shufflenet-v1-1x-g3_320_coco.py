_base_ = './ssdlite_mobilenet-v2-1x_320_coco.py'
# SSDLite on ShuffleNet V1 1x (g=3) at 320x320: the MobileNet V2 config's
# model and schedule; the backbone gives stages 3 and 4 (480 and 960
# channels, strides 16 and 32; ShuffleNet V1 has no conv5). ImageNet
# weights: a local file (see docs/detection.md), override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/shufflenet-v1-1x-g3_16xb64_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmshuffle.ShuffleNetV1',
        groups=3,
        widen_factor=1.0,
        out_indices=(1, 2),
        norm_cfg=dict(type='BN', eps=0.001, momentum=0.03),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        in_channels=(480, 960),
        out_channels=(480, 960, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(480, 960, 512, 256, 256, 128)),
)
