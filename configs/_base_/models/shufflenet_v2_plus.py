# ShuffleNetV2+ Small classifier as the authors build it (MEGVII's
# ShuffleNet-Series): SE on the pooled vector, fc 1280 + hard-swish, dropout
# 0.2, bias-free classifier; leaf configs change the arch.
model = dict(
    type='ImageClassifier',
    _scope_='mmpretrain',
    backbone=dict(type='mmshuffle.ShuffleNetV2Plus', arch='small'),
    neck=dict(type='mmshuffle.GlobalAveragePoolingSE', in_channels=1280),
    head=dict(
        type='mmshuffle.BiasFreeClsHead',
        num_classes=1000,
        in_channels=1280,
        mid_channels=1280,
        act_cfg=dict(type='HSwish'),
        dropout_rate=0.2,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
