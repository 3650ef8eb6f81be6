# ImageNet-1k at data/imagenet in mmpretrain's layout:
#   data/imagenet/{train,val}/...  and  data/imagenet/meta/{train,val}.txt
# 64 images per GPU; RandomResizedCrop 224 + flip for training,
# resize 256 + center crop 224 for testing (Pillow backend).
dataset_type = 'ImageNet'
data_preprocessor = dict(
    num_classes=1000,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmpretrain'),
    dict(
        type='RandomResizedCrop',
        _scope_='mmpretrain',
        scale=224,
        backend='pillow'),
    dict(
        type='RandomFlip',
        _scope_='mmpretrain',
        prob=0.5,
        direction='horizontal'),
    dict(type='PackInputs', _scope_='mmpretrain'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='mmpretrain'),
    dict(
        type='ResizeEdge',
        _scope_='mmpretrain',
        scale=256,
        edge='short',
        backend='pillow'),
    dict(type='CenterCrop', _scope_='mmpretrain', crop_size=224),
    dict(type='PackInputs', _scope_='mmpretrain'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=5,
    dataset=dict(
        type=dataset_type,
        _scope_='mmpretrain',
        data_root='data/imagenet',
        split='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', _scope_='mmpretrain', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=5,
    dataset=dict(
        type=dataset_type,
        _scope_='mmpretrain',
        data_root='data/imagenet',
        split='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', _scope_='mmpretrain', shuffle=False),
)
val_evaluator = dict(type='Accuracy', _scope_='mmpretrain', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
