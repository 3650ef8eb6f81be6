_base_ = [
    '../_base_/datasets/toy_shapes_bs64.py',
    '../_base_/schedules/toy_adamw_30e.py',
    '../_base_/default_runtime.py',
]
# MobileNet V2 1x from scratch on the built-in toy shapes, on CPU.
model = dict(
    type='ImageClassifier',
    _scope_='mmpretrain',
    backbone=dict(type='mmshuffle.MobileNetV2', widen_factor=1.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=6,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))
default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0)
