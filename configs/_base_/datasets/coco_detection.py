# COCO 2017 at data/coco (mmdet's layout): train2017/, val2017/ and
# annotations/instances_{train,val}2017.json. 2 images per GPU.
dataset_type = 'CocoDataset'
data_root = 'data/coco/'

train_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(type='LoadAnnotations', _scope_='mmdet', with_bbox=True),
    dict(type='Resize', _scope_='mmdet', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', _scope_='mmdet', prob=0.5),
    dict(type='PackDetInputs', _scope_='mmdet')
]
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(type='Resize', _scope_='mmdet', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', _scope_='mmdet', with_bbox=True),
    dict(
        type='PackDetInputs',
        _scope_='mmdet',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', _scope_='mmdet', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler', _scope_='mmdet'),
    dataset=dict(
        type=dataset_type,
        _scope_='mmdet',
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', _scope_='mmdet', shuffle=False),
    dataset=dict(
        type=dataset_type,
        _scope_='mmdet',
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    _scope_='mmdet',
    ann_file=data_root + 'annotations/instances_val2017.json',
    metric='bbox',
    format_only=False)
test_evaluator = val_evaluator
