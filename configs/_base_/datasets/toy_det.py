# The built-in toy detection set (tools/misc/make_toy_data.py det): four
# shape classes, 1-6 objects of 12-128 px per 320x320 image, COCO format at
# data/toy_det. Evaluated with mmdet's CocoMetric (pycocotools).
dataset_type = 'CocoDataset'
data_root = 'data/toy_det/'
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'star'),
    palette=[(220, 20, 60), (0, 130, 255), (0, 200, 80), (250, 170, 30)])

train_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(type='LoadAnnotations', _scope_='mmdet', with_bbox=True),
    dict(type='Resize', _scope_='mmdet', scale=(320, 320), keep_ratio=True),
    dict(
        type='RandomFlip',
        _scope_='mmdet',
        prob=0.5,
        direction=['horizontal', 'vertical']),
    dict(type='PackDetInputs', _scope_='mmdet')
]
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(type='Resize', _scope_='mmdet', scale=(320, 320), keep_ratio=True),
    dict(type='LoadAnnotations', _scope_='mmdet', with_bbox=True),
    dict(
        type='PackDetInputs',
        _scope_='mmdet',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    sampler=dict(type='DefaultSampler', _scope_='mmdet', shuffle=True),
    dataset=dict(
        type=dataset_type,
        _scope_='mmdet',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    drop_last=False,
    sampler=dict(type='DefaultSampler', _scope_='mmdet', shuffle=False),
    dataset=dict(
        type=dataset_type,
        _scope_='mmdet',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    _scope_='mmdet',
    ann_file=data_root + 'annotations/instances_val.json',
    metric='bbox',
    format_only=False)
test_evaluator = val_evaluator
