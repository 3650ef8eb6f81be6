"""torchvision and mmpretrain weights load into mmshuffle classifiers with
identical logits; the converter refuses the wrong architecture or width."""
import subprocess
import sys
import os.path as osp

import pytest
import torch
import torchvision
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401
from mmshuffle.converters import check_against_model, convert_torchvision

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONVERTER = osp.join(ROOT, 'tools', 'model_converters',
                     'torchvision2mmshuffle.py')
VARIANTS = [
    ('shufflenet_v2_x0_5', 'shufflenet-v2-0.5x'),
    ('shufflenet_v2_x1_0', 'shufflenet-v2-1x'),
    ('shufflenet_v2_x1_5', 'shufflenet-v2-1.5x'),
    ('shufflenet_v2_x2_0', 'shufflenet-v2-2x'),
    ('mobilenet_v2', 'mobilenet-v2-1x'),
]


def randomize_bn(model):
    """Non-trivial BN statistics, so that parity means something."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))
    return model


def our_classifier(arch, num_classes=1000):
    sys.path.insert(0, osp.dirname(CONVERTER))
    try:
        from torchvision2mmshuffle import build_classifier
    finally:
        sys.path.pop(0)
    return build_classifier(arch, num_classes)


@pytest.mark.parametrize('tv_name,arch', VARIANTS)
def test_converted_torchvision_gives_identical_logits(tv_name, arch):
    tv = randomize_bn(getattr(torchvision.models, tv_name)(weights=None))
    tv.eval()
    converted = convert_torchvision(tv.state_dict())
    ours = our_classifier(arch).eval()
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(
            ours(x, mode='tensor'), tv(x), atol=1e-5, rtol=0)
    # pure and idempotent
    again = convert_torchvision(converted)
    assert list(again) == list(converted)
    assert all(again[k] is converted[k] for k in converted)
    assert convert_torchvision({'state_dict': tv.state_dict()}).keys() == \
        converted.keys()


def test_wrong_width_is_refused_with_the_first_mismatch():
    tv = torchvision.models.shufflenet_v2_x0_5(weights=None)
    converted = convert_torchvision(tv.state_dict())
    with pytest.raises(ValueError, match=r"'backbone.layers.0.0.branch1.1"
                       r".conv.weight' has shape \(24, 24, 1, 1\).*wrong "
                       r"width"):
        check_against_model(converted, our_classifier('shufflenet-v2-1x'))
    mb = convert_torchvision(torchvision.models.mobilenet_v2().state_dict())
    with pytest.raises(ValueError, match='does not exist in the target.*'
                       'wrong architecture'):
        check_against_model(mb, our_classifier('shufflenet-v2-1x'))


@pytest.mark.parametrize('name,kwargs,channels', [
    ('ShuffleNetV1', dict(groups=3), 960),
    ('ShuffleNetV2', dict(widen_factor=1.0), 1024),
    ('MobileNetV2', dict(widen_factor=1.0), 1280),
])
def test_mmpretrain_classifier_loads_directly(name, kwargs, channels):
    from mmpretrain.registry import MODELS

    def build(backbone_type):
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            return MODELS.build(
                dict(
                    type='ImageClassifier',
                    backbone=dict(type=backbone_type, **kwargs),
                    neck=dict(type='GlobalAveragePooling'),
                    head=dict(
                        type='LinearClsHead',
                        num_classes=1000,
                        in_channels=channels)))

    theirs = randomize_bn(build(name)).eval()
    ours = build(f'mmshuffle.{name}').eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(
            ours(x, mode='tensor'), theirs(x, mode='tensor'), atol=1e-5,
            rtol=0)


def test_cli_converts_and_refuses(tmp_path):
    tv = torchvision.models.shufflenet_v2_x0_5(weights=None)
    src = tmp_path / 'tv.pth'
    torch.save(tv.state_dict(), src)
    dst = tmp_path / 'out' / 'shufflenet-v2-0.5x.pth'
    proc = subprocess.run(
        [sys.executable, CONVERTER, str(src), str(dst)],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    ckpt = torch.load(dst, weights_only=True)
    assert 'backbone.conv1.conv.weight' in ckpt['state_dict']
    bad = tmp_path / 'bad.pth'
    proc = subprocess.run(
        [sys.executable, CONVERTER, str(src), str(bad), '--arch',
         'shufflenet-v2-2x'], capture_output=True, text=True)
    assert proc.returncode == 1
    assert 'wrong width' in proc.stderr and not bad.exists()
