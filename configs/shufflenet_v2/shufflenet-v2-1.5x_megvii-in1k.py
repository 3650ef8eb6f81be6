_base_ = [
    '../_base_/models/shufflenet_v2_megvii.py',
    '../_base_/datasets/imagenet_megvii_test.py',
    '../_base_/default_runtime.py',
]
# The paper authors' ShuffleNetV2 1.5x (MEGVII's ShuffleNet-Series;
# their top-1 72.6, 299M FLOPs), evaluated as they do (BGR 0-255, no
# mean/std, OpenCV short side 256, centre crop 224). Convert their weights:
#   python tools/model_converters/megvii2mmshuffle.py SRC \
#       checkpoints/shufflenet-v2-1.5x_megvii-in1k.pth
# (see docs/weights.md), then tools/test.py this config with that file.
model = dict(
    backbone=dict(widen_factor=1.5),
    head=dict(in_channels=1024))
# evaluation only (tools/test.py)
val_cfg = dict()
test_cfg = dict()
