_base_ = './ssdlite_mobilenet-v2-1x_320_coco.py'
# SSDLite on ShuffleNetV2+ Large at 320x320: the MobileNet V2 config's model
# and schedule; the backbone gives stage 3 (336 channels, stride 16) and
# conv_last (1280, stride 32), the counterparts of MobileNet V2's layer5 and
# conv2. ImageNet weights: the authors' ShuffleNetV2+ Large converted by
# tools/model_converters/megvii2mmshuffle.py to a local file (see
# docs/weights.md); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/shufflenet-v2-plus-large_megvii-in1k.pth'
model = dict(
    # those weights were trained on BGR 0-255 images without mean/std
    data_preprocessor=dict(mean=None, std=None, bgr_to_rgb=False),
    backbone=dict(
        _delete_=True,
        type='mmshuffle.ShuffleNetV2Plus',
        arch='large',
        out_indices=(2, 4),
        norm_cfg=dict(type='BN', eps=0.001, momentum=0.03),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        in_channels=(336, 1280),
        out_channels=(336, 1280, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(336, 1280, 512, 256, 256, 128)),
)
