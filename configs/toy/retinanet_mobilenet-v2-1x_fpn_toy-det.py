_base_ = './retinanet_shufflenet-v2-1x_fpn_toy-det.py'
# RetinaNet (mmdet's FPN and RetinaHead, CPU-sized) on MobileNet V2 1x
# (layers 3, 5, 7, as the COCO config) on the toy shapes. The backbone
# starts from the toy classifier trained with
# configs/toy/mobilenet-v2-1x_1xb64-30e_toy-shapes.py (tools/train.py's
# default work dir); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'work_dirs/mobilenet-v2-1x_1xb64-30e_toy-shapes/epoch_30.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmshuffle.MobileNetV2',
        widen_factor=1.0,
        out_indices=(2, 4, 6),
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[32, 96, 320]),
)
