_base_ = [
    '../_base_/models/retinanet_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime_det.py',
]
# ImageNet weights: the authors' ShuffleNetV2+ Small converted by
# tools/model_converters/megvii2mmshuffle.py to a local file (see
# docs/weights.md); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/shufflenet-v2-plus-small_megvii-in1k.pth'
model = dict(
    # those weights were trained on BGR 0-255 images without mean/std
    data_preprocessor=dict(mean=None, std=None, bgr_to_rgb=False),
    backbone=dict(
        type='mmshuffle.ShuffleNetV2Plus',
        arch='small',
        # stages 2-4 (strides 8, 16, 32) -> P3-P7, as the other RetinaNets
        out_indices=(1, 2, 3),
        # small per-GPU batches: freeze the stem and first stage and keep
        # every BN in eval mode (as mmdet does for ResNets); for multi-GPU
        # training SyncBN is the alternative:
        # norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[104, 208, 416]),
)
optim_wrapper = dict(optimizer=dict(lr=0.01))
