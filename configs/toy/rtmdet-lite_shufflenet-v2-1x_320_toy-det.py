_base_ = [
    '../_base_/models/rtmdet-lite.py',
    '../_base_/datasets/toy_det.py',
    '../_base_/default_runtime_det.py',
]
# RTMDet-lite (as configs/rtmdet_lite/rtmdet-lite_shufflenet-v2-1x_320_coco.py)
# on the built-in toy shapes at their 320x320 size, CPU-sized: the toy
# detection configs' simple pipeline and 12 epochs of batch 4, with RTMDet's
# optimiser (AdamW, no decay on norms and biases) and EMA of the weights.
# The backbone starts from the toy classification demo's checkpoint,
# standing in for ImageNet weights (same Pretrained path as the COCO
# configs); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'work_dirs/demo_toy_shapes/epoch_30.pth'
model = dict(
    # one process on a CPU: no SyncBN
    use_syncbn=False,
    backbone=dict(
        type='mmshuffle.ShuffleNetV2',
        widen_factor=1.0,
        out_indices=(0, 1, 2),
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[116, 232, 464]),
    bbox_head=dict(num_classes=4),
    test_cfg=dict(score_thr=0.05, nms_pre=1000, max_per_img=100),
)
train_cfg = dict(
    type='EpochBasedTrainLoop', _scope_='mmdet', max_epochs=12, val_interval=4)
val_cfg = dict(type='ValLoop', _scope_='mmdet')
test_cfg = dict(type='TestLoop', _scope_='mmdet')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', _scope_='mmdet', lr=0.001, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR',
        _scope_='mmdet',
        start_factor=0.01,
        by_epoch=False,
        begin=0,
        end=100),
    dict(
        type='CosineAnnealingLR',
        _scope_='mmdet',
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=12),
]
custom_hooks = [
    dict(type='mmshuffle.SafeCheckpointHook', _scope_='mmdet'),
    dict(
        type='EMAHook',
        _scope_='mmdet',
        ema_type='ExpMomentumEMA',
        momentum=0.0002,
        update_buffers=True,
        priority=49),
]
auto_scale_lr = dict(enable=False, base_batch_size=4)
default_hooks = dict(logger=dict(interval=20))
randomness = dict(seed=0)
