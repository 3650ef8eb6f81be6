# Runtime shared by the detection configs (mmdet).
default_scope = 'mmdet'
custom_imports = dict(imports=['mmshuffle'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook', _scope_='mmdet'),
    logger=dict(type='LoggerHook', _scope_='mmdet', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook', _scope_='mmdet'),
    checkpoint=dict(
        type='mmshuffle.AtomicCheckpointHook',
        _scope_='mmdet',
        interval=1,
        max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook', _scope_='mmdet'),
    visualization=dict(type='DetVisualizationHook', _scope_='mmdet'))
# Checkpoints stay loadable under torch >= 2.6 with weights_only=True
# (tools/train.py adds this hook to any config that lacks it).
custom_hooks = [dict(type='mmshuffle.SafeCheckpointHook', _scope_='mmdet')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # no backend: tools/train.py and tools/test.py use nccl with GPUs and
    # gloo without; set backend='nccl' or 'gloo' here to force one
    dist_cfg=dict(),
)

vis_backends = [dict(type='LocalVisBackend', _scope_='mmdet')]
visualizer = dict(
    type='DetLocalVisualizer',
    _scope_='mmdet',
    vis_backends=vis_backends,
    name='visualizer')
log_processor = dict(
    type='LogProcessor', _scope_='mmdet', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
