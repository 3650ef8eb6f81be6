# ShuffleNet V2 1x classifier; leaf configs change the width.
model = dict(
    type='ImageClassifier',
    _scope_='mmpretrain',
    backbone=dict(type='mmshuffle.ShuffleNetV2', widen_factor=1.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
