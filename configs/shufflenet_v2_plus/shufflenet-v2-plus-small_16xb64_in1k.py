_base_ = [
    '../_base_/models/shufflenet_v2_plus.py',
    '../_base_/datasets/imagenet_bs64_megvii.py',
    '../_base_/schedules/imagenet_bs1024_450k-iters_linear_nowd.py',
    '../_base_/default_runtime.py',
]
# ShuffleNetV2+ Small with the authors' recipe (MEGVII's ShuffleNet-Series):
# 16 GPUs x 64 images = batch 1024, 450,000 iterations, label smoothing 0.1,
# their BGR 0-255 data (so the converted official weights and weights
# trained here use the same pipeline).
model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='LabelSmoothLoss',
            label_smooth_val=0.1,
            mode='original')))
# iteration-based: log every 20 iterations, keep a checkpoint every 10,000
# (the last 3 and the best top-1)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=10000))
log_processor = dict(by_epoch=False)
# iteration-based: the training data are an endless stream (as the
# authors' loader)
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', _scope_='mmpretrain', shuffle=True))
