_base_ = './light-head-rcnn_shufflenet-v2-1x_small-head_toy-det.py'
# Light-Head R-CNN (small setting) on MobileNet V2 1x on the toy shapes: the
# RPN reads the 96-channel block (stride 16), the light head the
# 1280-channel last conv (stride 32), as the COCO config. The backbone starts
# from the toy classifier trained with
# configs/toy/mobilenet-v2-1x_1xb64-30e_toy-shapes.py (tools/train.py's
# default work dir); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'work_dirs/mobilenet-v2-1x_1xb64-30e_toy-shapes/epoch_30.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmshuffle.MobileNetV2',
        widen_factor=1.0,
        out_indices=(4, 7),
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    rpn_head=dict(in_channels=96),
    roi_head=dict(bbox_roi_extractor=dict(in_channels=1280)),
)
