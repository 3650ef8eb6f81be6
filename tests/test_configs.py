"""Every shipped classification config loads, builds its model, runs a
forward pass, and builds its pipeline and schedule; the schedules are the
anchors'."""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FAMILIES = ('shufflenet_v1', 'shufflenet_v2', 'mobilenet_v2')
# the `_megvii-in1k` evaluation configs of the authors' weights and the
# ShuffleNetV2+ configs are tested in test_megvii.py
IMAGENET_CONFIGS = sorted(
    p for fam in FAMILIES
    for p in glob.glob(osp.join(ROOT, 'configs', fam, '*.py'))
    if not p.endswith('_megvii-in1k.py'))
TOY_CLS_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'toy',
                                            '*toy-shapes.py')))


def config_id(path):
    return osp.basename(path)[:-3]


def build(cfg):
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model)


def test_configs_exist():
    names = {config_id(p) for p in IMAGENET_CONFIGS}
    for g in (1, 2, 3, 4, 8):
        assert f'shufflenet-v1-1x-g{g}_16xb64_in1k' in names
    for w in ('0.5x', '1.5x', '2x'):
        assert f'shufflenet-v1-{w}-g3_16xb64_in1k' in names
    for w in ('0.5x', '1x', '1.5x', '2x'):
        assert f'shufflenet-v2-{w}_16xb64_in1k' in names
    assert 'mobilenet-v2-1x_8xb32_in1k' in names
    assert len(TOY_CLS_CONFIGS) == 3


@pytest.mark.parametrize('path', IMAGENET_CONFIGS + TOY_CLS_CONFIGS,
                         ids=config_id)
def test_config_builds_and_runs(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.custom_imports['imports'] == ['mmshuffle']
    assert cfg.model.backbone.type.startswith('mmshuffle.')
    model = build(cfg).eval()
    assert type(model.backbone).__module__.startswith('mmshuffle.')
    # the config name says what the backbone is
    name = config_id(path)
    m = re.match(
        r'(shufflenet-v1|shufflenet-v2(-star)?|mobilenet-v2)-([\d.]+)x', name)
    assert m, name
    assert float(m.group(3)) == model.backbone.widen_factor
    assert bool(m.group(2)) == getattr(model.backbone, 'extra_dw', False)
    g = re.search(r'-g(\d)_', name)
    if g:
        assert int(g.group(1)) == model.backbone.groups
    # the head sees what the backbone gives
    assert cfg.model.head.in_channels == model.backbone.out_channels[-1]
    size = 96 if 'toy' in name else 224
    with torch.no_grad():
        logits = model(torch.randn(1, 3, size, size), mode='tensor')
    assert logits.shape == (1, cfg.model.head.num_classes)
    _check_pipelines(cfg)
    _check_schedule(cfg, model)


def _check_pipelines(cfg):
    from mmengine.dataset import Compose
    from mmpretrain.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader'):
            steps = cfg[loader].dataset.pipeline
            assert len(Compose(
                [TRANSFORMS.build(t) for t in steps]).transforms) == len(
                    steps)


def _check_schedule(cfg, model):
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import PARAM_SCHEDULERS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        schedulers = cfg.param_scheduler
        if isinstance(schedulers, dict):
            schedulers = [schedulers]
        for s in schedulers:
            s = dict(s)
            s.setdefault('end', 10**6)
            PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper))


@pytest.mark.parametrize('path', IMAGENET_CONFIGS, ids=config_id)
def test_imagenet_schedule_is_the_anchors(path):
    cfg = Config.fromfile(path)
    name = config_id(path)
    gpus, per_gpu = map(int, re.search(r'_(\d+)xb(\d+)_', name).groups())
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr.base_batch_size == gpus * per_gpu
    assert cfg.train_cfg.max_epochs == 300
    assert cfg.train_dataloader.dataset.data_root == 'data/imagenet'
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.momentum, opt.weight_decay) == ('SGD', 0.9, 4e-5)
    if name.startswith('shufflenet'):
        assert gpus * per_gpu == 1024 and opt.lr == 0.5
        assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0
        warmup, decay = cfg.param_scheduler
        assert (warmup.type, warmup.factor, warmup.by_epoch, warmup.end) \
            == ('ConstantLR', 0.1, False, 5000)
        assert (decay.type, decay.eta_min, decay.power, decay.by_epoch,
                decay.begin) == ('PolyLR', 0, 1.0, False, 5000)
    else:
        assert gpus * per_gpu == 256 and opt.lr == 0.045
        s = cfg.param_scheduler
        assert (s.type, s.gamma, s.step_size, s.by_epoch) == ('StepLR', 0.98,
                                                             1, True)


def test_toy_config_classes_follow_the_generator():
    from mmshuffle.datasets.toy import SHAPES
    for path in TOY_CLS_CONFIGS:
        cfg = Config.fromfile(path)
        for loader in ('train_dataloader', 'val_dataloader'):
            assert tuple(cfg[loader].dataset.classes) == SHAPES
