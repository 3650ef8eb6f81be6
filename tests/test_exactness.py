"""The architectures are the papers' and the anchors': widths, parameter
counts, and strict weight/output parity with mmpretrain 1.2.0."""
import pytest
import torch
from helpers import (MOBILENET_V2_VARIANTS, SHUFFLENET_V1_VARIANTS,
                     SHUFFLENET_V2_VARIANTS, all_out_indices, assert_close,
                     build_backbone, count_params)
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401


def classifier_params(name, **kwargs):
    """Parameters of the backbone + a 1000-class linear head on
    global-pooled features, built as an mmpretrain ImageClassifier."""
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    backbone = build_backbone(name, **kwargs)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = PRETRAIN_MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(type=f'mmshuffle.{name}', **kwargs),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead',
                    num_classes=1000,
                    in_channels=backbone.out_channels[-1])))
    assert type(model.backbone) is type(backbone)
    return count_params(model)


@pytest.mark.parametrize('name,kwargs,expected', [
    ('ShuffleNetV2', dict(widen_factor=0.5), 1_366_792),
    ('ShuffleNetV2', dict(widen_factor=1.0), 2_278_604),
    ('ShuffleNetV2', dict(widen_factor=1.5), 3_503_624),
    ('ShuffleNetV2', dict(widen_factor=2.0), 7_393_996),
    ('MobileNetV2', dict(widen_factor=1.0), 3_504_872),
    ('ShuffleNetV1', dict(groups=3, widen_factor=1.0), 1_865_728),
])
def test_parameter_counts_with_1000_class_head(name, kwargs, expected):
    assert classifier_params(name, **kwargs) == expected


def test_parameter_counts_equal_torchvision():
    import torchvision
    for w, fn in ((0.5, 'shufflenet_v2_x0_5'), (1.0, 'shufflenet_v2_x1_0'),
                  (1.5, 'shufflenet_v2_x1_5'), (2.0, 'shufflenet_v2_x2_0')):
        tv = getattr(torchvision.models, fn)(weights=None)
        assert classifier_params('ShuffleNetV2',
                                 widen_factor=w) == count_params(tv)
    tv = torchvision.models.mobilenet_v2(weights=None)
    assert classifier_params('MobileNetV2') == count_params(tv)


@pytest.mark.parametrize('groups,stages', [
    (1, (144, 288, 576)),
    (2, (200, 400, 800)),
    (3, (240, 480, 960)),
    (4, (272, 544, 1088)),
    (8, (384, 768, 1536)),
])
def test_shufflenet_v1_1x_widths_are_the_papers(groups, stages):
    model = build_backbone(
        'ShuffleNetV1', groups=groups, out_indices=(0, 1, 2))
    assert model.out_channels == stages
    assert model.stem_channels == 24
    first = model.layers[0][0]
    assert first.g_conv_1x1_compress.conv.groups == 1  # stage 2, not grouped
    assert all(u.g_conv_1x1_compress.conv.groups == groups
               for layer in model.layers for u in layer
               if u is not first)


def test_shufflenet_v1_stride2_unit_concats_pooled_shortcut():
    model = build_backbone('ShuffleNetV1', groups=3).eval()
    unit = model.layers[1][0]
    x = torch.rand(1, 240, 16, 16)
    with torch.no_grad():
        out = unit(x)
        pooled = torch.nn.functional.avg_pool2d(x, 3, 2, 1)
    assert out.shape == (1, 480, 8, 8)
    assert_close(out[:, :240], pooled)


def test_shufflenet_v1_shuffle_switch_changes_the_function():
    on = build_backbone('ShuffleNetV1', groups=3).eval()
    off = build_backbone('ShuffleNetV1', groups=3, shuffle=False).eval()
    off.load_state_dict(on.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(on(x)[0], off(x)[0])
    assert all(not u.shuffle for layer in off.layers for u in layer)


def _build_mmpretrain(name, **kwargs):
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return PRETRAIN_MODELS.build(dict(type=name, **kwargs))


def _mmpretrain_builds(name, kwargs):
    try:
        _build_mmpretrain(name, **kwargs)
    except (ValueError, RuntimeError, AssertionError):
        return False
    return True


MMPRETRAIN_V1_FAILS = {(0.25, 3), (0.25, 4), (0.25, 8), (0.5, 4), (0.5, 8),
                       (1.5, 4), (1.5, 8)}


def test_mmpretrain_v1_fails_exactly_where_documented_and_ours_builds():
    failing = {(kw['widen_factor'], kw['groups'])
               for kw in SHUFFLENET_V1_VARIANTS
               if not _mmpretrain_builds('ShuffleNetV1', kw)}
    assert failing == MMPRETRAIN_V1_FAILS
    for w, g in failing:
        build_backbone('ShuffleNetV1', groups=g, widen_factor=w)


#: the paper's Table 1 (Zhang et al., 2017): output channels of
#: stages 2/3/4 of ShuffleNet 1x for each number of groups
PAPER_V1_1X = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960),
               4: (272, 544, 1088), 8: (384, 768, 1536)}


@pytest.mark.parametrize(
    'kwargs', SHUFFLENET_V1_VARIANTS,
    ids=lambda kw: f"g{kw['groups']}-{kw['widen_factor']}x")
def test_shufflenet_v1_widths_follow_the_papers_table(kwargs):
    """Every width multiplier scales the paper's 1x table (paper: "channels
    scaled, rounded to a multiple of 8"). Each stage is the multiple of 8
    nearest to paper x width among those whose bottleneck (a quarter of
    the stage) splits into the groups, which a grouped 1x1 needs; the stem
    is the paper's 24 x width, rounded up to a multiple of the groups."""
    groups, width = kwargs['groups'], kwargs['widen_factor']
    model = build_backbone('ShuffleNetV1', out_indices=(0, 1, 2), **kwargs)
    for paper, got in zip(PAPER_V1_1X[groups], model.out_channels):
        target = paper * width
        assert got % 8 == 0 and (got // 4) % groups == 0, got
        usable = [c for c in range(8, 2 * paper * 2 + 8, 8)
                  if (c // 4) % groups == 0]
        nearest = min(abs(c - target) for c in usable)
        assert abs(got - target) == nearest, (paper, width, got)
        if (width, groups) not in MMPRETRAIN_V1_FAILS:
            # the plain paper rule is buildable: it is used as is
            assert got == 8 * int(target / 8 + 0.5), (paper, width, got)
    stem = model.stem_channels
    assert stem % groups == 0 and 0 <= stem - int(24 * width) < groups
    if width == 1.0:
        assert model.out_channels == PAPER_V1_1X[groups]


PARITY_CASES = (
    [('ShuffleNetV1', kw) for kw in SHUFFLENET_V1_VARIANTS
     if (kw['widen_factor'], kw['groups']) not in MMPRETRAIN_V1_FAILS] +
    [('ShuffleNetV2', kw) for kw in SHUFFLENET_V2_VARIANTS] +
    [('MobileNetV2', kw) for kw in MOBILENET_V2_VARIANTS])


@pytest.mark.parametrize(
    'name,kwargs', PARITY_CASES,
    ids=[f'{n}-{"-".join(map(str, k.values()))}' for n, k in PARITY_CASES])
def test_mmpretrain_weights_load_strictly_with_identical_outputs(name, kwargs):
    out_indices = all_out_indices(name)
    theirs = _build_mmpretrain(name, out_indices=out_indices, **kwargs)
    theirs.init_weights()
    # give BN statistics non-trivial values so that parity means something
    theirs.train()
    with torch.no_grad():
        theirs(torch.randn(4, 3, 64, 64))
    theirs.eval()
    ours = build_backbone(name, out_indices=out_indices, **kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 97, 130)
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert len(a) == len(b) == len(out_indices)
    for i, j in zip(a, b):
        assert_close(i, j)


def test_shufflenet_v2_star_adds_one_depthwise_conv_per_unit():
    plain = build_backbone('ShuffleNetV2', out_indices=(0, 1, 2, 3))
    star = build_backbone(
        'ShuffleNetV2', extra_dw=True, out_indices=(0, 1, 2, 3))
    expected = 0
    for unit_star in (u for s in star.layers[:3] for u in s):
        first = unit_star.branch2[0].conv
        assert first.kernel_size == (3, 3)
        assert first.groups == first.in_channels == first.out_channels
        assert first.stride == (1, 1)
        expected += first.in_channels * 9 + 2 * first.in_channels  # + BN
    assert count_params(star) - count_params(plain) == expected
    assert star.out_channels == plain.out_channels


def test_layers_after_the_last_output_are_frozen_and_skipped():
    model = build_backbone('ShuffleNetV2', out_indices=(0, 1, 2))
    model.train()
    conv5 = model.layers[3]
    assert all(not p.requires_grad for p in conv5.parameters())
    assert all(p.requires_grad for p in model.layers[2].parameters())
    outs = model(torch.randn(2, 3, 64, 64))
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is None for p in conv5.parameters())
