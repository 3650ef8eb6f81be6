_base_ = './retinanet_shufflenet-v2-1x_fpn_toy-det.py'
# RetinaNet (mmdet's FPN and RetinaHead, CPU-sized) on ShuffleNet V1 1x g3
# (stages 2-4, as the COCO config) on the toy shapes. The backbone starts
# from the toy classifier trained with
# configs/toy/shufflenet-v1-1x-g3_1xb64-30e_toy-shapes.py (tools/train.py's
# default work dir); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'work_dirs/shufflenet-v1-1x-g3_1xb64-30e_toy-shapes/epoch_30.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmshuffle.ShuffleNetV1',
        groups=3,
        widen_factor=1.0,
        out_indices=(0, 1, 2),
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[240, 480, 960]),
)
