"""Scope-qualified types reach mmshuffle's classes from mmdet and mmpretrain
configs, whatever the default scope (both register same-named classes)."""
import pytest
from mmengine.registry import DefaultScope

import mmshuffle
from mmshuffle.registry import MODELS

OURS = {
    'ShuffleNetV1': mmshuffle.ShuffleNetV1,
    'ShuffleNetV2': mmshuffle.ShuffleNetV2,
    'MobileNetV2': mmshuffle.MobileNetV2,
    'ShuffleNetV2Plus': mmshuffle.models.ShuffleNetV2Plus,
    'ShuffleNetV2DetNAS': mmshuffle.ShuffleNetV2DetNAS,
    'ShuffleNetV2OneShot': mmshuffle.ShuffleNetV2OneShot,
    'ShuffleNetV2Large': mmshuffle.ShuffleNetV2Large,
    'ShuffleNetV2ExLarge': mmshuffle.ShuffleNetV2ExLarge,
}


def downstream_registry(scope):
    if scope == 'mmdet':
        from mmdet.registry import MODELS as registry
    else:
        from mmpretrain.registry import MODELS as registry
    return registry


def test_registry_is_a_child_of_mmengine_root():
    from mmengine.registry import MODELS as ROOT
    assert MODELS.scope == 'mmshuffle'
    assert MODELS.parent is ROOT
    assert ROOT.children['mmshuffle'] is MODELS
    assert set(MODELS.module_dict) == set(OURS) | {
        'LiteFPN', 'LiteRetinaHead', 'LitePAFPN', 'LiteRTMDetHead',
        'SSDLiteHead', 'GlobalAveragePoolingSE', 'BiasFreeClsHead',
        'DeeplySupervisedClsHead', 'PSRoIAlignExtractor', 'LightHeadRoIHead',
        'SingleLevelRPNHead'}


@pytest.mark.parametrize('scope', ['mmdet', 'mmpretrain'])
@pytest.mark.parametrize('name', sorted(OURS))
def test_scoped_type_builds_our_class(scope, name):
    registry = downstream_registry(scope)
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type=f'mmshuffle.{name}'))
    assert type(model) is OURS[name]


@pytest.mark.parametrize('scope,name', [('mmpretrain', 'ShuffleNetV2'),
                                        ('mmpretrain', 'ShuffleNetV1'),
                                        ('mmpretrain', 'MobileNetV2'),
                                        ('mmdet', 'MobileNetV2')])
def test_bare_type_is_the_downstream_class(scope, name):
    # why configs must use the scope-qualified type
    registry = downstream_registry(scope)
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type=name))
    assert type(model) is not OURS[name]
    assert type(model).__module__.startswith(scope)


def test_classifier_and_detector_configs_build_with_our_backbones():
    from mmdet.registry import MODELS as DET
    from mmpretrain.registry import MODELS as CLS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        cls = CLS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(type='mmshuffle.ShuffleNetV2'),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead', num_classes=10, in_channels=1024)))
    assert type(cls.backbone) is mmshuffle.ShuffleNetV2
    backbone = mmshuffle.MobileNetV2(out_indices=(2, 4, 6))
    with DefaultScope.overwrite_default_scope('mmdet'):
        neck = DET.build(
            dict(
                type='FPN',
                in_channels=list(backbone.out_channels),
                out_channels=32,
                num_outs=3))
    assert neck.in_channels == [32, 96, 320]
