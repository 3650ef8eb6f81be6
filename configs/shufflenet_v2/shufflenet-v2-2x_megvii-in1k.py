_base_ = [
    '../_base_/datasets/imagenet_megvii_test.py',
    '../_base_/default_runtime.py',
]
# The paper authors' ShuffleNetV2 2.0x (MEGVII's ShuffleNet-Series;
# their top-1 75.0, 591M FLOPs), evaluated as they do (BGR 0-255, no
# mean/std, OpenCV short side 256, centre crop 224). Convert their weights:
#   python tools/model_converters/megvii2mmshuffle.py SRC \
#       checkpoints/shufflenet-v2-2x_megvii-in1k.pth
# (see docs/weights.md), then tools/test.py this config with that file.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmshuffle.ShuffleNetV2', widen_factor=2.0, megvii=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='mmshuffle.BiasFreeClsHead',
        num_classes=1000,
        in_channels=2048,
        dropout_rate=0.2,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
# evaluation only (tools/test.py)
val_cfg = dict()
test_cfg = dict()
