_base_ = [
    '../_base_/datasets/imagenet_megvii_test.py',
    '../_base_/default_runtime.py',
]
# The paper authors' ShuffleNetV2.Large (MEGVII's ShuffleNet-Series; their
# top-1 81.44, 12.7G FLOPs), evaluated as they do (BGR 0-255, no mean/std,
# OpenCV short side 256, centre crop 224). Convert their weights:
#   python tools/model_converters/megvii2mmshuffle.py SRC \
#       checkpoints/shufflenet-v2-large_megvii-in1k.pth
# (see docs/weights.md), then tools/test.py this config with that file.
# The head holds the authors' three auxiliary classifiers on the first three
# stages (the backbone returns those stages too). Only training uses them,
# with the authors' loss weights: 1.0 for the main head, 0.7/0.5/0.3 for the
# ones at strides 16/8/4. Without them: model.head.aux_channels=[],
# model.head.aux_loss_weights=[], model.backbone.out_indices=[4] (their
# weights in a checkpoint are then left unused).
model = dict(
    type='ImageClassifier',
    _scope_='mmpretrain',
    backbone=dict(type='mmshuffle.ShuffleNetV2Large', out_indices=(0, 1, 2, 4)),
    head=dict(
        type='mmshuffle.DeeplySupervisedClsHead',
        num_classes=1000,
        in_channels=1280,
        aux_channels=((256, 256), (512, 512), (1024, 1024)),
        aux_loss_weights=(0.3, 0.5, 0.7),
        dropout_rate=0.2,
        norm_cfg=dict(type='BN', eps=1e-9),
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
# evaluation only (tools/test.py)
val_cfg = dict()
test_cfg = dict()
