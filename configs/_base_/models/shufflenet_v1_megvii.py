# The paper authors' ShuffleNet V1 1x (g=3) classifier (MEGVII's
# ShuffleNet-Series): their network (megvii=True) and bias-free classifier;
# leaf configs change groups/width.
model = dict(
    type='ImageClassifier',
    _scope_='mmpretrain',
    backbone=dict(
        type='mmshuffle.ShuffleNetV1',
        groups=3,
        widen_factor=1.0,
        megvii=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='mmshuffle.BiasFreeClsHead',
        num_classes=1000,
        in_channels=960,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
