# The ShuffleNet schedule (mmpretrain's, after the ShuffleNet V2 paper):
# SGD lr 0.5 for a total batch of 1024, momentum 0.9, weight decay 4e-5
# except on norm layers; lr held at 0.1 x for the first 5,000 iterations,
# then decayed linearly to 0 per iteration; 300 epochs.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD',
        _scope_='mmpretrain',
        lr=0.5,
        momentum=0.9,
        weight_decay=0.00004),
    paramwise_cfg=dict(norm_decay_mult=0),
)
param_scheduler = [
    dict(
        type='ConstantLR',
        _scope_='mmpretrain',
        factor=0.1,
        by_epoch=False,
        begin=0,
        end=5000),
    dict(
        type='PolyLR',
        _scope_='mmpretrain',
        eta_min=0,
        power=1.0,
        by_epoch=False,
        begin=5000),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# --auto-scale-lr scales lr by (GPUs x batch per GPU) / 1024
auto_scale_lr = dict(base_batch_size=1024)
