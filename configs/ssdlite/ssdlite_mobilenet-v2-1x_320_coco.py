_base_ = [
    '../_base_/models/ssdlite.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/default_runtime_det.py',
]
# SSDLite on MobileNet V2 1x at 320x320, the MobileNetV2 paper's COCO
# setting, with the model and schedule of mmdet's
# ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py (8 GPUs x 24 images,
# 120 epochs over COCO repeated 5 times = 600 epochs, SGD lr 0.015, cosine).
# mmdet trains it from scratch; here the backbone starts from ImageNet
# weights, a local file (see docs/detection.md). Train from scratch as mmdet
# does with --cfg-options model.backbone.init_cfg=None, or point elsewhere
# with --cfg-options model.backbone.init_cfg.checkpoint=PATH.
pretrained = 'checkpoints/mobilenet-v2-1x_8xb32_in1k.pth'
model = dict(
    backbone=dict(
        type='mmshuffle.MobileNetV2',
        widen_factor=1.0,
        # layer5 (96 channels, stride 16) and conv2 (1280, stride 32)
        out_indices=(4, 7),
        # batches of 24 per GPU: every BN trains, as in mmdet's config
        norm_cfg=dict(type='BN', eps=0.001, momentum=0.03),
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        in_channels=(96, 1280),
        out_channels=(96, 1280, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(96, 1280, 512, 256, 256, 128)),
)
env_cfg = dict(cudnn_benchmark=True)

input_size = 320
train_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(type='LoadAnnotations', _scope_='mmdet', with_bbox=True),
    dict(
        type='Expand',
        _scope_='mmdet',
        mean=[123.675, 116.28, 103.53],
        to_rgb=True,
        ratio_range=(1, 4)),
    dict(
        type='MinIoURandomCrop',
        _scope_='mmdet',
        min_ious=(0.1, 0.3, 0.5, 0.7, 0.9),
        min_crop_size=0.3),
    dict(
        type='Resize',
        _scope_='mmdet',
        scale=(input_size, input_size),
        keep_ratio=False),
    dict(type='RandomFlip', _scope_='mmdet', prob=0.5),
    dict(
        type='PhotoMetricDistortion',
        _scope_='mmdet',
        brightness_delta=32,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18),
    dict(type='PackDetInputs', _scope_='mmdet')
]
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(
        type='Resize',
        _scope_='mmdet',
        scale=(input_size, input_size),
        keep_ratio=False),
    dict(type='LoadAnnotations', _scope_='mmdet', with_bbox=True),
    dict(
        type='PackDetInputs',
        _scope_='mmdet',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=24,
    num_workers=4,
    batch_sampler=None,
    dataset=dict(
        _delete_=True,
        type='RepeatDataset',
        _scope_='mmdet',
        times=5,
        dataset=dict(
            type={{_base_.dataset_type}},
            data_root={{_base_.data_root}},
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img='train2017/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline=train_pipeline)))
val_dataloader = dict(batch_size=8, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 120
train_cfg = dict(
    type='EpochBasedTrainLoop',
    _scope_='mmdet',
    max_epochs=max_epochs,
    val_interval=5)
val_cfg = dict(type='ValLoop', _scope_='mmdet')
test_cfg = dict(type='TestLoop', _scope_='mmdet')
param_scheduler = [
    dict(
        type='LinearLR',
        _scope_='mmdet',
        start_factor=0.001,
        by_epoch=False,
        begin=0,
        end=500),
    dict(
        type='CosineAnnealingLR',
        _scope_='mmdet',
        begin=0,
        T_max=max_epochs,
        end=max_epochs,
        by_epoch=True,
        eta_min=0)
]
optim_wrapper = dict(
    type='OptimWrapper',
    _scope_='mmdet',
    optimizer=dict(type='SGD', lr=0.015, momentum=0.9, weight_decay=4.0e-5))
custom_hooks = [
    dict(type='mmshuffle.SafeCheckpointHook', _scope_='mmdet'),
    dict(type='NumClassCheckHook', _scope_='mmdet'),
    dict(
        type='CheckInvalidLossHook',
        _scope_='mmdet',
        interval=50,
        priority='VERY_LOW')
]
# --auto-scale-lr scales lr by (GPUs x batch per GPU) / 192 (8 GPUs x 24)
auto_scale_lr = dict(enable=False, base_batch_size=192)
