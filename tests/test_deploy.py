"""Deploy mode: BatchNorm folded into the convolutions (and channels_last)
gives the training form's outputs within 1e-4, for every backbone variant,
a classifier and a detector."""
import copy

import pytest
import torch
from helpers import (ALL_VARIANTS, all_out_indices, batch_norms,
                     build_backbone, randomize_bn_stats, variant_id)
from mmcv.cnn import ConvModule
from mmengine.registry import DefaultScope
from torch import nn

from mmshuffle.models.classifier import build_classifier
from mmshuffle.deploy import (ConvAct, compile_for_inference, fold_bn,
                              fuse_conv_bn, is_deploy, switch_to_deploy)

TOL = 1e-4


def assert_close(reference, outputs):
    assert len(reference) == len(outputs)
    for ref, out in zip(reference, outputs):
        assert ref.shape == out.shape
        err = (ref - out).abs().max().item()
        assert err <= TOL, f'max abs difference {err} > {TOL}'


@pytest.mark.parametrize('item', ALL_VARIANTS, ids=variant_id)
@pytest.mark.parametrize('channels_last', [False, True],
                         ids=['nchw', 'channels_last'])
def test_every_variant_deploys_with_equal_outputs(item, channels_last):
    name, kwargs = item
    model = build_backbone(
        name, out_indices=all_out_indices(name), **kwargs)
    randomize_bn_stats(model).eval()
    x = torch.randn(2, 3, 64, 80, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = model(x)
        deployed = copy.deepcopy(model).switch_to_deploy(channels_last)
        outputs = deployed(x)
    assert_close(reference, outputs)
    assert not batch_norms(deployed)
    assert not any(isinstance(m, ConvModule) for m in deployed.modules())
    assert is_deploy(deployed) and not is_deploy(model)
    if channels_last:
        assert all(o.is_contiguous(memory_format=torch.channels_last)
                   for o in outputs)


def test_deployed_backbone_refuses_to_train_and_deploys_once():
    model = randomize_bn_stats(build_backbone('ShuffleNetV2')).eval()
    model.switch_to_deploy()
    state = copy.deepcopy(model.state_dict())
    assert switch_to_deploy(model) is model  # second call changes nothing
    assert all(torch.equal(state[k], v)
               for k, v in model.state_dict().items())
    with pytest.raises(RuntimeError, match='deploy mode'):
        model.train()
    model.eval()  # still allowed


def test_classifier_deploys_with_equal_logits():
    model = build_classifier(
        dict(type='mmshuffle.ShuffleNetV1', groups=3), 960, num_classes=10)
    randomize_bn_stats(model).eval()
    x = torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        reference = model(x, mode='tensor')
        switch_to_deploy(model, channels_last=True)
        outputs = model(x, mode='tensor')
    assert_close([reference], [outputs])
    with pytest.raises(RuntimeError, match='deploy mode'):
        model.train()


def test_detector_neck_and_head_are_folded_too():
    from mmdet.registry import MODELS
    from mmengine.config import Config
    cfg = Config.fromfile('configs/toy/retinanet-lite_shufflenet-v2-1x'
                          '_lite-fpn_toy-det.py')
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    randomize_bn_stats(model).eval()
    x = torch.randn(1, 3, 128, 160)
    with torch.no_grad():
        cls_ref, box_ref = model(x, mode='tensor')
        switch_to_deploy(model)
        cls_out, box_out = model(x, mode='tensor')
    assert not batch_norms(model)
    assert_close(cls_ref + box_ref, cls_out + box_out)


def test_fold_bn_rules():
    conv = nn.Conv2d(4, 6, 3, bias=True)
    bn = randomize_bn_stats(nn.Sequential(nn.BatchNorm2d(6)))[0].eval()
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        assert_close([bn(conv(x))], [fold_bn(conv, bn)(x)])
    with pytest.raises(ValueError, match='running statistics'):
        fold_bn(conv, nn.BatchNorm2d(6, track_running_stats=False))
    with pytest.raises(ValueError, match='output channels'):
        fold_bn(conv, nn.BatchNorm2d(5))
    # GroupNorm depends on the input: the module is kept as it is
    gn = nn.Sequential(ConvModule(4, 8, 1, norm_cfg=dict(type='GN',
                                                         num_groups=2)))
    assert fuse_conv_bn(gn) == 0 and isinstance(gn[0], ConvModule)
    # no norm: converted to the lean form, same output
    plain = nn.Sequential(ConvModule(4, 8, 1, norm_cfg=None))
    with torch.no_grad():
        ref = plain(x)
        assert fuse_conv_bn(plain) == 1 and isinstance(plain[0], ConvAct)
        assert_close([ref], [plain(x)])


def test_bad_arguments():
    with pytest.raises(TypeError, match='nn.Module'):
        switch_to_deploy('model')
    with pytest.raises(TypeError, match='channels_last must be a bool'):
        switch_to_deploy(nn.Linear(2, 2), channels_last='yes')


@pytest.mark.slow
def test_compiled_deploy_form_gives_the_same_outputs():
    import torch._inductor.config as inductor_config
    model = build_backbone('ShuffleNetV2', out_indices=(1, 3))
    randomize_bn_stats(model).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(x)
        compiled = compile_for_inference(switch_to_deploy(model))
        assert_close(reference, compiled(x))
        assert_close(reference, compiled(x))  # the compiled code, reused
    assert inductor_config.freezing is False  # the global setting is kept
    with pytest.raises(TypeError, match='nn.Module'):
        compile_for_inference(lambda t: t)
