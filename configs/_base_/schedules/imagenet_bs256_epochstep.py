# The MobileNet V2 schedule: SGD lr 0.045 for a total batch of 256,
# momentum 0.9, weight decay 4e-5, lr x 0.98 after every epoch; 300 epochs.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD',
        _scope_='mmpretrain',
        lr=0.045,
        momentum=0.9,
        weight_decay=0.00004))
param_scheduler = dict(
    type='StepLR',
    _scope_='mmpretrain',
    by_epoch=True,
    step_size=1,
    gamma=0.98)
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# --auto-scale-lr scales lr by (GPUs x batch per GPU) / 256
auto_scale_lr = dict(base_batch_size=256)
