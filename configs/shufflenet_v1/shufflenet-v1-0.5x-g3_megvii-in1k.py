_base_ = [
    '../_base_/models/shufflenet_v1_megvii.py',
    '../_base_/datasets/imagenet_megvii_test.py',
    '../_base_/default_runtime.py',
]
# The paper authors' ShuffleNetV1 0.5x (group=3) (MEGVII's ShuffleNet-Series;
# their top-1 57.3, 38M FLOPs), evaluated as they do (BGR 0-255, no
# mean/std, OpenCV short side 256, centre crop 224). Convert their weights:
#   python tools/model_converters/megvii2mmshuffle.py SRC \
#       checkpoints/shufflenet-v1-0.5x-g3_megvii-in1k.pth
# (see docs/weights.md), then tools/test.py this config with that file.
model = dict(
    backbone=dict(groups=3, widen_factor=0.5),
    head=dict(in_channels=480))
# evaluation only (tools/test.py)
val_cfg = dict()
test_cfg = dict()
