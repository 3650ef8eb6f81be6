_base_ = [
    '../_base_/models/shufflenet_v2_1x.py',
    '../_base_/datasets/imagenet_bs64_pil_resize.py',
    '../_base_/schedules/imagenet_bs1024_linearlr_bn_nowd.py',
    '../_base_/default_runtime.py',
]
# ShuffleNet V2 2x: 16 GPUs x 64 images = batch 1024
model = dict(
    backbone=dict(widen_factor=2.0),
    head=dict(in_channels=2048),
)
