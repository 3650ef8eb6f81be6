_base_ = [
    '../_base_/models/shufflenet_v1_megvii.py',
    '../_base_/datasets/imagenet_megvii_test.py',
    '../_base_/default_runtime.py',
]
# The paper authors' ShuffleNetV1 1.5x (group=8) (MEGVII's ShuffleNet-Series;
# their top-1 71.0, 290M FLOPs), evaluated as they do (BGR 0-255, no
# mean/std, OpenCV short side 256, centre crop 224). Convert their weights:
#   python tools/model_converters/megvii2mmshuffle.py SRC \
#       checkpoints/shufflenet-v1-1.5x-g8_megvii-in1k.pth
# (see docs/weights.md), then tools/test.py this config with that file.
model = dict(
    backbone=dict(groups=8, widen_factor=1.5),
    head=dict(in_channels=2304))
# evaluation only (tools/test.py)
val_cfg = dict()
test_cfg = dict()
