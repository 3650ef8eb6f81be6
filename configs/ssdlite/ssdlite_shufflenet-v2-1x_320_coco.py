_base_ = './ssdlite_mobilenet-v2-1x_320_coco.py'
# SSDLite on ShuffleNet V2 1x at 320x320: the MobileNet V2 config's model
# and schedule; the backbone gives stage 3 (232 channels, stride 16) and
# conv5 (1024, stride 32), the counterparts of MobileNet V2's layer5 and
# conv2. ImageNet weights: a local file (see docs/detection.md), override
# with --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/shufflenet-v2-1x_16xb64_in1k.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmshuffle.ShuffleNetV2',
        widen_factor=1.0,
        out_indices=(1, 3),
        norm_cfg=dict(type='BN', eps=0.001, momentum=0.03),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        in_channels=(232, 1024),
        out_channels=(232, 1024, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(232, 1024, 512, 256, 256, 128)),
)
