_base_ = [
    '../_base_/models/shufflenet_v2_1x.py',
    '../_base_/datasets/imagenet_bs64_pil_resize.py',
    '../_base_/schedules/imagenet_bs1024_linearlr_bn_nowd.py',
    '../_base_/default_runtime.py',
]
# ShuffleNet v2* 1x (the paper's detection variant: an extra 3x3 depthwise
# conv in every unit), ImageNet pre-training for the v2* detectors.
# 16 GPUs x 64 images = batch 1024
model = dict(
    backbone=dict(widen_factor=1.0, extra_dw=True),
)
