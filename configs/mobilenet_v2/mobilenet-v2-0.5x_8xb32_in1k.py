_base_ = [
    '../_base_/models/mobilenet_v2_1x.py',
    '../_base_/datasets/imagenet_bs32_pil_resize.py',
    '../_base_/schedules/imagenet_bs256_epochstep.py',
    '../_base_/default_runtime.py',
]
# MobileNet V2 0.5x: 8 GPUs x 32 images = batch 256
model = dict(
    backbone=dict(widen_factor=0.5),
)
