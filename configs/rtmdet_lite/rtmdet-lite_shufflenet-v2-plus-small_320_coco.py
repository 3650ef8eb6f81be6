_base_ = './rtmdet-lite_shufflenet-v2-1x_320_coco.py'
# RTMDet-lite on ShuffleNetV2+ Small at 320x320 (NanoDet-Plus-m's setting): stages 2-4
# (strides 8, 16, 32) into the ShuffleNet V2 config's neck and head, same
# recipe. ImageNet weights: the authors' ShuffleNetV2+ Small converted by
# tools/model_converters/megvii2mmshuffle.py to a local file (see
# docs/weights.md); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/shufflenet-v2-plus-small_megvii-in1k.pth'
model = dict(
    # those weights were trained on BGR 0-255 images without mean/std
    data_preprocessor=dict(mean=None, std=None, bgr_to_rgb=False),
    backbone=dict(
        _delete_=True,
        type='mmshuffle.ShuffleNetV2Plus',
        arch='small',
        out_indices=(1, 2, 3),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[104, 208, 416]),
)
