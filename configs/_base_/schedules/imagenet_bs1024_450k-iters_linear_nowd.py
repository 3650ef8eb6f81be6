# The ShuffleNetV2+ authors' schedule (MEGVII's ShuffleNet-Series): SGD lr
# 0.5 for a total batch of 1024, momentum 0.9, weight decay 4e-5 on conv
# and linear weights only (none on norm layers and biases), label smoothing
# 0.1 (in the head's loss), lr decayed linearly to 0 over 450,000
# iterations (about 360 epochs), validation every 10,000.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD',
        _scope_='mmpretrain',
        lr=0.5,
        momentum=0.9,
        weight_decay=0.00004),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0),
)
param_scheduler = dict(
    type='PolyLR',
    _scope_='mmpretrain',
    eta_min=0,
    power=1.0,
    by_epoch=False,
    begin=0,
    end=450000)
train_cfg = dict(by_epoch=False, max_iters=450000, val_interval=10000)
val_cfg = dict()
test_cfg = dict()
# --auto-scale-lr scales lr by (GPUs x batch per GPU) / 1024
auto_scale_lr = dict(base_batch_size=1024)
