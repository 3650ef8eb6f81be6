# ImageNet-1k training with the ShuffleNet authors' data (MEGVII's
# ShuffleNet-Series): BGR images, 0-255, no mean/std; RandomResizedCrop 224
# (Pillow bilinear), ColorJitter 0.4 (brightness, contrast, saturation),
# horizontal flip. Evaluation as in imagenet_megvii_test.py. 64 images per
# GPU; data/imagenet in mmpretrain's layout.
_base_ = ['./imagenet_megvii_test.py']

train_pipeline = [
    dict(
        type='LoadImageFromFile',
        _scope_='mmpretrain',
        imdecode_backend='pillow'),
    dict(
        type='RandomResizedCrop',
        _scope_='mmpretrain',
        scale=224,
        backend='pillow'),
    dict(
        type='ColorJitter',
        _scope_='mmpretrain',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4),
    dict(
        type='RandomFlip',
        _scope_='mmpretrain',
        prob=0.5,
        direction='horizontal'),
    dict(type='PackInputs', _scope_='mmpretrain'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=5,
    dataset=dict(
        type='ImageNet',
        _scope_='mmpretrain',
        data_root='data/imagenet',
        split='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', _scope_='mmpretrain', shuffle=True),
)
