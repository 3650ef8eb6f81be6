# mmdet's 1x schedule: 12 epochs, SGD lr 0.02 for a total batch of 16
# (8 GPUs x 2 images), 500-iteration linear warm-up, lr x 0.1 after epochs
# 8 and 11.
train_cfg = dict(
    type='EpochBasedTrainLoop', _scope_='mmdet', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop', _scope_='mmdet')
test_cfg = dict(type='TestLoop', _scope_='mmdet')
param_scheduler = [
    dict(
        type='LinearLR',
        _scope_='mmdet',
        start_factor=0.001,
        by_epoch=False,
        begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        _scope_='mmdet',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    _scope_='mmdet',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))
# --auto-scale-lr scales lr by (GPUs x batch per GPU) / 16
auto_scale_lr = dict(enable=False, base_batch_size=16)
