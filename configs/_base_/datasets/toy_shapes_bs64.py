# The built-in toy data set (tools/misc/make_toy_data.py cls): 6 shape
# classes, 96x96 images, in mmpretrain's folder format at data/toy_shapes.
dataset_type = 'CustomDataset'
data_root = 'data/toy_shapes'
# label order of the generator (mmshuffle.datasets.toy.SHAPES)
classes = ('circle', 'square', 'triangle', 'star', 'ring', 'cross')
data_preprocessor = dict(
    num_classes=6,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

# every class is symmetric under flips, so both flips are label-preserving
train_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmpretrain'),
    dict(
        type='RandomFlip',
        _scope_='mmpretrain',
        prob=0.5,
        direction='horizontal'),
    dict(
        type='RandomFlip',
        _scope_='mmpretrain',
        prob=0.5,
        direction='vertical'),
    dict(type='PackInputs', _scope_='mmpretrain'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmpretrain'),
    dict(type='PackInputs', _scope_='mmpretrain'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        _scope_='mmpretrain',
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='train',
        classes=classes,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', _scope_='mmpretrain', shuffle=True),
)
val_dataloader = dict(
    batch_size=100,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        _scope_='mmpretrain',
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='val',
        classes=classes,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', _scope_='mmpretrain', shuffle=False),
)
val_evaluator = dict(type='Accuracy', _scope_='mmpretrain', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
