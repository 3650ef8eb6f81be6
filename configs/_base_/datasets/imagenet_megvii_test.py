# ImageNet-1k evaluation as the ShuffleNet authors (MEGVII's
# ShuffleNet-Series) do it, for their published weights: BGR images,
# 0-255, no mean/std; short side resized to 256 with OpenCV bilinear (long
# side int(256 * long / short + 0.5), their rounding), centre crop 224.
# Images decoded by Pillow, as their torchvision ImageFolder does.
# data/imagenet in mmpretrain's layout (val/ and meta/val.txt).
dataset_type = 'ImageNet'
data_preprocessor = dict(num_classes=1000, mean=None, std=None, to_rgb=False)

test_pipeline = [
    dict(
        type='LoadImageFromFile',
        _scope_='mmpretrain',
        imdecode_backend='pillow'),
    # keep_ratio with a (short, long) bound: short side 256 whatever the
    # long side (up to 100000 px)
    dict(
        type='Resize',
        _scope_='mmpretrain',
        scale=(256, 100000),
        keep_ratio=True,
        interpolation='bilinear',
        backend='cv2'),
    dict(type='CenterCrop', _scope_='mmpretrain', crop_size=224),
    dict(type='PackInputs', _scope_='mmpretrain'),
]

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
