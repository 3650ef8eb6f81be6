_base_ = [
    '../_base_/models/shufflenet_v1_1x.py',
    '../_base_/datasets/imagenet_bs64_pil_resize.py',
    '../_base_/schedules/imagenet_bs1024_linearlr_bn_nowd.py',
    '../_base_/default_runtime.py',
]
# ShuffleNet V1 1.5x, g=3: 16 GPUs x 64 images = batch 1024
model = dict(
    backbone=dict(groups=3, widen_factor=1.5),
    head=dict(in_channels=1440),
)
