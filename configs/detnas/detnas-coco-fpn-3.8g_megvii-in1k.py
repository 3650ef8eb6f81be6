_base_ = [
    '../_base_/models/detnas_megvii.py',
    '../_base_/datasets/imagenet_megvii_test.py',
    '../_base_/default_runtime.py',
]
# The DetNAS authors' COCO_FPN_3.8G backbone as an ImageNet classifier (MEGVII's
# ShuffleNet-Series; their top-1 78.4, 3.8G FLOPs; searched for
# COCO Faster R-CNN FPN 42.0 mAP), evaluated as they do (BGR 0-255, no mean/std, OpenCV
# short side 256, centre crop 224). Convert their weights:
#   python tools/model_converters/megvii2mmshuffle.py SRC \
#       checkpoints/detnas-coco-fpn-3.8g_megvii-in1k.pth
# (see docs/weights.md), then tools/test.py this config with that file.
model = dict(
    backbone=dict(arch='coco-fpn-3.8g'),
    head=dict(in_channels=1728))
# evaluation only (tools/test.py)
val_cfg = dict()
test_cfg = dict()
