# Light-Head R-CNN's schedule (the authors' code): SGD lr 0.01 for a total
# batch of 16 (8 GPUs x 2 images), momentum 0.9, weight decay 1e-4,
# 500-iteration linear warm-up from 1/3; their 150,000 iterations with lr
# x 0.1 at 95,000 and 125,000 are 2.4M images, about 20 epochs of COCO
# train2017 with steps after 13 and 17.
train_cfg = dict(
    type='EpochBasedTrainLoop', _scope_='mmdet', max_epochs=20, val_interval=1)
val_cfg = dict(type='ValLoop', _scope_='mmdet')
test_cfg = dict(type='TestLoop', _scope_='mmdet')
param_scheduler = [
    dict(
        type='LinearLR',
        _scope_='mmdet',
        start_factor=1.0 / 3,
        by_epoch=False,
        begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        _scope_='mmdet',
        begin=0,
        end=20,
        by_epoch=True,
        milestones=[13, 17],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    _scope_='mmdet',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
# --auto-scale-lr scales lr by (GPUs x batch per GPU) / 16
auto_scale_lr = dict(enable=False, base_batch_size=16)
