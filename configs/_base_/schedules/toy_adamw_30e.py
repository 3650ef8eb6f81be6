# CPU-sized schedule for the built-in toy data (batch 64 on one device):
# AdamW (converges far faster from scratch than SGD at this scale),
# 100-iteration linear warm-up, cosine decay over 30 epochs.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', _scope_='mmpretrain', lr=3e-3, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0))
param_scheduler = [
    dict(
        type='LinearLR',
        _scope_='mmpretrain',
        start_factor=0.01,
        by_epoch=False,
        begin=0,
        end=100),
    dict(
        type='CosineAnnealingLR',
        _scope_='mmpretrain',
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=30),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
