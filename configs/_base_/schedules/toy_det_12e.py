# The toy detectors' schedule: 12 epochs of batch 4 over the toy shapes,
# SGD lr 0.02 (momentum 0.9, weight decay 1e-4, gradients clipped at 35),
# 100-iteration linear warm-up, cosine decay to 0; validation every 4
# epochs.
train_cfg = dict(
    type='EpochBasedTrainLoop', _scope_='mmdet', max_epochs=12, val_interval=4)
val_cfg = dict(type='ValLoop', _scope_='mmdet')
test_cfg = dict(type='TestLoop', _scope_='mmdet')
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', _scope_='mmdet', lr=0.02, momentum=0.9, weight_decay=1e-4),
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
auto_scale_lr = dict(enable=False, base_batch_size=4)
