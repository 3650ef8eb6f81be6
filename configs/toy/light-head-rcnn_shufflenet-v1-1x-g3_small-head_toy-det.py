_base_ = './light-head-rcnn_shufflenet-v2-1x_small-head_toy-det.py'
# Light-Head R-CNN (small setting) on ShuffleNet V1 1x g3 on the toy shapes:
# the RPN reads stage 3 (480 channels, stride 16), the light head stage 4
# (960 channels, stride 32), as the COCO config. The backbone starts from the
# toy classifier trained with
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
        out_indices=(1, 2),
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    rpn_head=dict(in_channels=480),
    roi_head=dict(bbox_roi_extractor=dict(in_channels=960)),
)
