_base_ = './ssdlite_shufflenet-v2-1x_320_toy-det.py'
# SSDLite on ShuffleNet V1 1x g3 (stages 3 and 4, as the COCO config) on the
# toy shapes. The backbone starts from the toy classifier trained with
# configs/toy/shufflenet-v1-1x-g3_1xb64-30e_toy-shapes.py (tools/train.py's
# default work dir); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'work_dirs/shufflenet-v1-1x-g3_1xb64-30e_toy-shapes/epoch_30.pth'
model = dict(
    # the toy pipeline keeps the aspect ratio: pad to the backbone's stride,
    # as the exported graph needs (images of any shape, as in mmdet)
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='mmshuffle.ShuffleNetV1',
        groups=3,
        widen_factor=1.0,
        out_indices=(1, 2),
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        in_channels=(480, 960),
        out_channels=(480, 960, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(480, 960, 512, 256, 256, 128)),
)
