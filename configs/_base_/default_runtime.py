# Runtime shared by the classification configs (mmpretrain).
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmshuffle'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook', _scope_='mmpretrain'),
    logger=dict(type='LoggerHook', _scope_='mmpretrain', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook', _scope_='mmpretrain'),
    # keep the best top-1 checkpoint and the last 3
    checkpoint=dict(
        type='mmshuffle.AtomicCheckpointHook',
        _scope_='mmpretrain',
        interval=1,
        max_keep_ckpts=3,
        save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook', _scope_='mmpretrain'),
    visualization=dict(
        type='VisualizationHook', _scope_='mmpretrain', enable=False),
)
# Checkpoints stay loadable under torch >= 2.6 with weights_only=True
# (tools/train.py adds this hook to any config that lacks it).
custom_hooks = [
    dict(type='mmshuffle.SafeCheckpointHook', _scope_='mmpretrain')
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # no backend: tools/train.py and tools/test.py use nccl with GPUs and
    # gloo without; set backend='nccl' or 'gloo' here to force one
    dist_cfg=dict(),
)

vis_backends = [dict(type='LocalVisBackend', _scope_='mmpretrain')]
visualizer = dict(
    type='UniversalVisualizer',
    _scope_='mmpretrain',
    vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
