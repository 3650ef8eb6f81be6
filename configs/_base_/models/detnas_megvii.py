# DetNAS COCO_FPN_300M classifier as the authors build it (MEGVII's
# ShuffleNet-Series): global average pooling, dropout 0.2, a biased
# classifier; leaf configs change the arch (and the classifier's width).
model = dict(
    type='ImageClassifier',
    _scope_='mmpretrain',
    backbone=dict(type='mmshuffle.ShuffleNetV2DetNAS', arch='coco-fpn-300m'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='mmshuffle.BiasFreeClsHead',
        num_classes=1000,
        in_channels=1024,
        dropout_rate=0.2,
        bias=True,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
