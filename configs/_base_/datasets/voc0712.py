# PASCAL VOC at data/VOCdevkit (mmdet's layout: VOC2007/ and VOC2012/, each
# with Annotations/, ImageSets/Main/ and JPEGImages/): trained on VOC2007
# trainval + VOC2012 trainval (16,551 images, repeated 3 times per epoch),
# tested on VOC2007 test (4,952 images) by the VOC2007 11-point mAP at IoU
# 0.5. 2 images per GPU; short side 600, long side at most 1000 (mmdet's
# VOC setting).
dataset_type = 'VOCDataset'
data_root = 'data/VOCdevkit/'

train_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(type='LoadAnnotations', _scope_='mmdet', with_bbox=True),
    dict(type='Resize', _scope_='mmdet', scale=(1000, 600), keep_ratio=True),
    dict(type='RandomFlip', _scope_='mmdet', prob=0.5),
    dict(type='PackDetInputs', _scope_='mmdet')
]
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmdet'),
    dict(type='Resize', _scope_='mmdet', scale=(1000, 600), keep_ratio=True),
    # after the resize: the boxes stay in the original image's pixels
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
        type='RepeatDataset',
        _scope_='mmdet',
        times=3,
        dataset=dict(
            type='ConcatDataset',
            _scope_='mmdet',
            # each VOCDataset names its year in its metainfo
            # ('dataset_type'): not compared when concatenating
            ignore_keys=['dataset_type'],
            datasets=[
                dict(
                    type=dataset_type,
                    _scope_='mmdet',
                    data_root=data_root,
                    ann_file='VOC2007/ImageSets/Main/trainval.txt',
                    data_prefix=dict(sub_data_root='VOC2007/'),
                    filter_cfg=dict(
                        filter_empty_gt=True, min_size=32, bbox_min_size=32),
                    pipeline=train_pipeline),
                dict(
                    type=dataset_type,
                    _scope_='mmdet',
                    data_root=data_root,
                    ann_file='VOC2012/ImageSets/Main/trainval.txt',
                    data_prefix=dict(sub_data_root='VOC2012/'),
                    filter_cfg=dict(
                        filter_empty_gt=True, min_size=32, bbox_min_size=32),
                    pipeline=train_pipeline)
            ])))
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
        ann_file='VOC2007/ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# VOC2007's 11-point interpolated AP (VOC2012 and later: 'area')
val_evaluator = dict(
    type='VOCMetric',
    _scope_='mmdet',
    metric='mAP',
    iou_thrs=[0.5],
    eval_mode='11points')
test_evaluator = val_evaluator
