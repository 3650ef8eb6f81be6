_base_ = './rtmdet-lite_shufflenet-v2-1x_320_coco.py'
# RTMDet-lite on ShuffleNet V2 1x at 416x416 (NanoDet-Plus-m-416's input):
# the 320x320 config with every pipeline size scaled to 416.
input_size = 416
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
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
        switch_epoch=280,  # the last 20 of 300 epochs, as at 320
        switch_pipeline=train_pipeline_stage2)
]
