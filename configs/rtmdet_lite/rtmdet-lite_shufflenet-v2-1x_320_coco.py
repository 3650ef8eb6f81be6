_base_ = [
    '../_base_/models/rtmdet-lite.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/default_runtime_det.py',
]
# RTMDet-lite on ShuffleNet V2 1x at 320x320 (NanoDet-Plus-m's setting):
# stages 2-4 (strides 8, 16, 32) into the depthwise PAN and shared head of
# _base_/models/rtmdet-lite.py, trained with mmdet's RTMDet-tiny recipe
# (rtmdet_tiny_8xb32-300e_coco.py) scaled to the input size: Mosaic +
# MixUp (cached), random resize 0.5-2x of twice the input size and crop,
# then 20 epochs without them; AdamW lr 0.004 for 8 GPUs x 32 images,
# 300 epochs (cosine over the second half), EMA of the weights.
# ImageNet weights: a local file (see docs/detection.md), override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/shufflenet-v2-1x_16xb64_in1k.pth'
model = dict(
    backbone=dict(
        type='mmshuffle.ShuffleNetV2',
        widen_factor=1.0,
        out_indices=(0, 1, 2),
        # batches of 32 per GPU (SyncBN across GPUs, as RTMDet): every BN
        # trains
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[116, 232, 464]),
)

input_size = 320
train_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(type='LoadAnnotations', _scope_='mmdet', with_bbox=True),
    dict(
        type='CachedMosaic',
        _scope_='mmdet',
        img_scale=(input_size, input_size),
        pad_val=114.0,
        max_cached_images=20,
        random_pop=False),
    dict(
        type='RandomResize',
        _scope_='mmdet',
        scale=(input_size * 2, input_size * 2),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(
        type='RandomCrop',
        _scope_='mmdet',
        crop_size=(input_size, input_size)),
    dict(type='YOLOXHSVRandomAug', _scope_='mmdet'),
    dict(type='RandomFlip', _scope_='mmdet', prob=0.5),
    dict(
        type='Pad',
        _scope_='mmdet',
        size=(input_size, input_size),
        pad_val=dict(img=(114, 114, 114))),
    dict(
        type='CachedMixUp',
        _scope_='mmdet',
        img_scale=(input_size, input_size),
        ratio_range=(1.0, 1.0),
        max_cached_images=10,
        random_pop=False,
        pad_val=(114, 114, 114),
        prob=0.5),
    dict(type='PackDetInputs', _scope_='mmdet')
]
train_pipeline_stage2 = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(type='LoadAnnotations', _scope_='mmdet', with_bbox=True),
    dict(
        type='RandomResize',
        _scope_='mmdet',
        scale=(input_size, input_size),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(
        type='RandomCrop',
        _scope_='mmdet',
        crop_size=(input_size, input_size)),
    dict(type='YOLOXHSVRandomAug', _scope_='mmdet'),
    dict(type='RandomFlip', _scope_='mmdet', prob=0.5),
    dict(
        type='Pad',
        _scope_='mmdet',
        size=(input_size, input_size),
        pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs', _scope_='mmdet')
]
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(
        type='Resize',
        _scope_='mmdet',
        scale=(input_size, input_size),
        keep_ratio=True),
    dict(
        type='Pad',
        _scope_='mmdet',
        size=(input_size, input_size),
        pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', _scope_='mmdet', with_bbox=True),
    dict(
        type='PackDetInputs',
        _scope_='mmdet',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=32,
    num_workers=10,
    batch_sampler=None,
    pin_memory=True,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=5, num_workers=10, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(proposal_nums=(100, 1, 10))
test_evaluator = val_evaluator

max_epochs = 300
stage2_num_epochs = 20
base_lr = 0.004
interval = 10
train_cfg = dict(
    type='EpochBasedTrainLoop',
    _scope_='mmdet',
    max_epochs=max_epochs,
    val_interval=interval,
    dynamic_intervals=[(max_epochs - stage2_num_epochs, 1)])
val_cfg = dict(type='ValLoop', _scope_='mmdet')
test_cfg = dict(type='TestLoop', _scope_='mmdet')
optim_wrapper = dict(
    type='OptimWrapper',
    _scope_='mmdet',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True))
param_scheduler = [
    dict(
        type='LinearLR',
        _scope_='mmdet',
        start_factor=1.0e-5,
        by_epoch=False,
        begin=0,
        end=1000),
    dict(
        # cosine from epoch 150 to 300
        type='CosineAnnealingLR',
        _scope_='mmdet',
        eta_min=base_lr * 0.05,
        begin=max_epochs // 2,
        end=max_epochs,
        T_max=max_epochs // 2,
        by_epoch=True,
        convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=interval, max_keep_ckpts=3))
custom_hooks = [
    dict(type='mmshuffle.SafeCheckpointHook', _scope_='mmdet'),
    dict(
        type='EMAHook',
        _scope_='mmdet',
        ema_type='ExpMomentumEMA',
        momentum=0.0002,
        update_buffers=True,
        priority=49),
    dict(
        type='PipelineSwitchHook',
        _scope_='mmdet',
        switch_epoch=max_epochs - stage2_num_epochs,
        switch_pipeline=train_pipeline_stage2)
]
# --auto-scale-lr scales lr by (GPUs x batch per GPU) / 256 (8 GPUs x 32)
auto_scale_lr = dict(enable=False, base_batch_size=256)
