_base_ = [
    '../_base_/datasets/imagenet_megvii_test.py',
    '../_base_/default_runtime.py',
]
# The network Single Path One-Shot NAS found, as an ImageNet classifier
# (MEGVII's ShuffleNet-Series; their top-1 74.9, 328M FLOPs), evaluated as
# they do (BGR 0-255, no mean/std, OpenCV short side 256, centre crop 224).
# Convert their weights:
#   python tools/model_converters/megvii2mmshuffle.py SRC \
#       checkpoints/oneshot_megvii-in1k.pth
# (see docs/weights.md), then tools/test.py this config with that file.
model = dict(
    type='ImageClassifier',
    _scope_='mmpretrain',
    backbone=dict(type='mmshuffle.ShuffleNetV2OneShot'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='mmshuffle.BiasFreeClsHead',
        num_classes=1000,
        in_channels=1024,
        dropout_rate=0.1,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
# evaluation only (tools/test.py)
val_cfg = dict()
test_cfg = dict()
