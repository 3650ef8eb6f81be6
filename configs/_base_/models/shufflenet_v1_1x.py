# ShuffleNet V1 1x (g=3) classifier; leaf configs change groups/width.
model = dict(
    type='ImageClassifier',
    _scope_='mmpretrain',
    backbone=dict(type='mmshuffle.ShuffleNetV1', groups=3, widen_factor=1.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=960,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
