_base_ = [
    '../_base_/models/shufflenet_v2_plus.py',
    '../_base_/datasets/imagenet_megvii_test.py',
    '../_base_/default_runtime.py',
]
# The paper authors' ShuffleNetV2+ Large (MEGVII's ShuffleNet-Series;
# their top-1 77.1, 360M FLOPs), evaluated as they do (BGR 0-255, no
# mean/std, OpenCV short side 256, centre crop 224). Convert their weights:
#   python tools/model_converters/megvii2mmshuffle.py SRC \
#       checkpoints/shufflenet-v2-plus-large_megvii-in1k.pth
# (see docs/weights.md), then tools/test.py this config with that file.
model = dict(backbone=dict(arch='large'))
# evaluation only (tools/test.py)
val_cfg = dict()
test_cfg = dict()
