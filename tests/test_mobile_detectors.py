"""The mobile detectors' parts: SSDLite is the MobileNetV2 paper's (same
network as mmdet's SSDLite, within 10% of the paper's parameters and
multiply-adds) and predicts; LitePAFPN is CSPNeXtPAFPN behind 1x1 input
convs; LiteRTMDetHead shares its depthwise-separable convs over the levels.
(Every config's build, pyramid, train step and inference: test_detection.py.)
"""
import os.path as osp

import pytest
import torch
import yaml
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401
from mmshuffle.analysis import model_complexity
from mmshuffle.engine.configs import build_model
from mmshuffle.models.dense_heads import LiteRTMDetHead, SSDLiteHead
from mmshuffle.models.necks import LitePAFPN

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SSDLITE_MNV2 = 'configs/ssdlite/ssdlite_mobilenet-v2-1x_320_coco.py'


@pytest.fixture(autouse=True)
def _mmdet_scope():
    """The heads build their priors and box coders from mmdet's registry
    by bare names: in mmdet's scope, whatever scope an earlier test left
    current."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


@pytest.fixture(scope='module')
def ssdlite_mnv2():
    cfg = Config.fromfile(osp.join(ROOT, SSDLITE_MNV2))
    return build_model(cfg, pretrained=False)


def test_ssdlite_mobilenet_v2_is_mmdets_network(ssdlite_mnv2):
    import mmdet
    from mmdet.registry import MODELS
    ref_path = osp.join(
        osp.dirname(mmdet.__file__), '.mim', 'configs', 'ssd',
        'ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py')
    ref_cfg = Config.fromfile(ref_path)
    with DefaultScope.overwrite_default_scope('mmdet'):
        ref = MODELS.build(ref_cfg.model)
    # same tensors (mmdet's MobileNetV2 names its blocks' convs otherwise)
    shapes = sorted(tuple(v.shape) for v in ssdlite_mnv2.state_dict().values())
    ref_shapes = sorted(tuple(v.shape) for v in ref.state_dict().values())
    assert shapes == ref_shapes
    num_params = sum(p.numel() for p in ssdlite_mnv2.parameters())
    assert num_params == sum(p.numel() for p in ref.parameters()) == 4228788
    for key in ('neck', 'bbox_head'):
        assert {k: v.shape for k, v in getattr(ssdlite_mnv2,
                                               key).state_dict().items()} \
            == {k: v.shape for k, v in getattr(ref, key).state_dict().items()}


def test_ssdlite_mobilenet_v2_is_the_papers_size(ssdlite_mnv2):
    # MobileNetV2 paper, Table 6: SSDLite 320x320, 4.3 M parameters and
    # 0.8 B multiply-adds
    info = model_complexity(ssdlite_mnv2, (320, 320))
    assert abs(info['params'] / 4.3e6 - 1) < 0.1
    assert abs(info['flops'] / 0.8e9 - 1) < 0.1
    # and the metafile says what was measured
    with open(osp.join(ROOT, 'configs', 'ssdlite', 'metafile.yml')) as f:
        models = {m['Config']: m for m in yaml.safe_load(f)['Models']}
    meta = models[SSDLITE_MNV2]['Metadata']
    assert meta['Parameters'] == info['params']
    assert meta['FLOPs'] == info['flops']


def test_ssdlite_head_predicts():
    head = SSDLiteHead(
        num_classes=3,
        in_channels=(16, 32),
        anchor_generator=dict(
            type='SSDAnchorGenerator',
            scale_major=False,
            strides=[16, 32],
            ratios=[[2], [2]],
            min_sizes=[16, 48],
            max_sizes=[48, 64]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[0.1, 0.1, 0.2, 0.2]),
        test_cfg=ConfigDict(
            nms_pre=100,
            nms=dict(type='nms', iou_threshold=0.45),
            min_bbox_size=0,
            score_thr=0.0,
            max_per_img=10)).eval()
    # SSDLite's predictors: 3x3 depthwise (BN, act) + 1x1
    assert head.cls_convs[0][0].conv.groups == 16
    feats = (torch.randn(1, 16, 4, 4), torch.randn(1, 32, 2, 2))
    meta = [dict(img_shape=(64, 64), ori_shape=(64, 64), scale_factor=(1, 1))]
    with torch.no_grad():
        results = head.predict_by_feat(*head(feats), batch_img_metas=meta)
    res = results[0]
    assert len(res.bboxes) == 10
    assert ((res.scores >= 0) & (res.scores <= 1)).all()
    assert res.labels.max() < 3


def test_ssdlite_head_rejects_a_non_bool_use_depthwise():
    with pytest.raises(TypeError, match='use_depthwise'):
        SSDLiteHead(num_classes=3, in_channels=(16, 32), use_depthwise=1)


def _neck(**kwargs):
    cfg = dict(in_channels=[24, 48, 96], out_channels=16)
    cfg.update(kwargs)
    return LitePAFPN(**cfg)


def _feats(in_channels=(24, 48, 96), size=16):
    return tuple(
        torch.randn(2, c, size >> i, size >> i)
        for i, c in enumerate(in_channels))


def test_lite_pafpn_is_cspnext_pafpn_behind_1x1_convs():
    from mmdet.models.necks import CSPNeXtPAFPN
    torch.manual_seed(0)
    neck = _neck().eval()
    neck.init_weights()
    assert neck.in_channels == [24, 48, 96]
    assert [m.conv.kernel_size for m in neck.input_convs] == [(1, 1)] * 3
    # its own depthwise-separable convs: a 3x3 conv has groups == channels
    assert any(
        isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
        and m.groups == m.in_channels > 1 for m in neck.modules())
    ref = CSPNeXtPAFPN([16, 16, 16], 16, num_csp_blocks=1,
                       use_depthwise=True).eval()
    state = {
        k: v
        for k, v in neck.state_dict().items()
        if not k.startswith('input_convs.')
    }
    ref.load_state_dict(state, strict=True)
    feats = _feats()
    with torch.no_grad():
        outs = neck(feats)
        reduced = tuple(c(x) for c, x in zip(neck.input_convs, feats))
        expected = ref(reduced)
    assert [tuple(o.shape) for o in outs] == [(2, 16, 16, 16), (2, 16, 8, 8),
                                              (2, 16, 4, 4)]
    for a, b in zip(outs, expected):
        torch.testing.assert_close(a, b)


def test_lite_pafpn_cost_does_not_grow_with_the_backbone_width():
    narrow = sum(p.numel() for p in _neck().parameters())
    wide = sum(
        p.numel() for p in _neck(in_channels=[240, 480, 960]).parameters())
    # only the 1x1 input convs see the backbone's widths
    assert wide - narrow == (240 + 480 + 960 - 24 - 48 - 96) * 16


def test_lite_pafpn_gradients_reach_every_input():
    neck = _neck().train()
    feats = tuple(f.requires_grad_() for f in _feats())
    sum(o.sum() for o in neck(feats)).backward()
    for f in feats:
        assert f.grad is not None and f.grad.abs().sum() > 0


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=96), TypeError, 'in_channels'),
    (dict(in_channels=[96]), TypeError, 'in_channels'),
    (dict(in_channels=[24, 0, 96]), ValueError, 'in_channels'),
    (dict(out_channels=0), ValueError, 'out_channels'),
    (dict(num_csp_blocks=0), ValueError, 'num_csp_blocks'),
    (dict(use_depthwise='yes'), TypeError, 'use_depthwise'),
])
def test_lite_pafpn_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        _neck(**kwargs)


def test_lite_pafpn_bad_inputs():
    neck = _neck().eval()
    with pytest.raises(ValueError, match='expects 3 feature maps'):
        neck(_feats()[:2])
    odd = (torch.randn(1, 24, 15, 15), torch.randn(1, 48, 8, 8),
           torch.randn(1, 96, 4, 4))
    with pytest.raises(ValueError, match='pad_size_divisor'):
        neck(odd)


def _head(**kwargs):
    cfg = dict(
        num_classes=3,
        in_channels=16,
        feat_channels=16,
        stacked_convs=2,
        anchor_generator=dict(
            type='MlvlPointGenerator', offset=0, strides=[8, 16, 32]),
        bbox_coder=dict(type='DistancePointBBoxCoder'),
        loss_cls=dict(
            type='QualityFocalLoss', use_sigmoid=True, beta=2.0,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        train_cfg=dict(
            assigner=dict(type='DynamicSoftLabelAssigner', topk=13),
            allowed_border=-1,
            pos_weight=-1,
            debug=False))
    cfg.update(kwargs)
    return LiteRTMDetHead(**cfg)


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


def test_lite_rtmdet_head_shares_its_depthwise_separable_convs():
    head = _head()
    for towers in (head.cls_convs, head.reg_convs):
        for level in towers[1:]:
            for conv, first in zip(level, towers[0]):
                assert conv.depthwise_conv.conv is first.depthwise_conv.conv
                assert conv.pointwise_conv.conv is first.pointwise_conv.conv
                assert conv.depthwise_conv.conv.groups == 16
                # BN per level
                assert conv.depthwise_conv.bn is not first.depthwise_conv.bn
                assert conv.pointwise_conv.bn is not first.pointwise_conv.bn
    unshared = _head(share_conv=False)
    assert unshared.cls_convs[1][0].depthwise_conv.conv is not \
        unshared.cls_convs[0][0].depthwise_conv.conv
    # sharing saves the conv weights of 2 of the 3 levels (2 towers x 2
    # depthwise-separable convs of 16 channels: 3x3x16 + 16x16 each)
    per_level = 2 * 2 * (9 * 16 + 16 * 16)
    assert _num_params(unshared) - _num_params(head) == 2 * per_level


def test_lite_rtmdet_head_shared_weights_learn_from_every_level():
    head = _head().train()
    feats = [torch.zeros(1, 16, s, s) for s in (8, 4, 2)]
    feats[2] = torch.randn(1, 16, 2, 2)  # only the coarsest level is live
    cls_scores, bbox_preds = head(tuple(feats))
    sum(c.sum() for c in cls_scores).backward()
    shared = head.cls_convs[0][0].depthwise_conv.conv.weight
    assert shared.grad is not None and shared.grad.abs().sum() > 0


def test_lite_rtmdet_head_without_depthwise_is_mmdets_head():
    from mmdet.models.dense_heads import RTMDetSepBNHead
    ours = _head(use_depthwise=False)
    cfg = dict(
        num_classes=3,
        in_channels=16,
        feat_channels=16,
        stacked_convs=2,
        anchor_generator=dict(
            type='MlvlPointGenerator', offset=0, strides=[8, 16, 32]),
        bbox_coder=dict(type='DistancePointBBoxCoder'))
    ref = RTMDetSepBNHead(**cfg)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in ref.state_dict().items()}
    assert _num_params(ours) == _num_params(ref)


@pytest.mark.parametrize('name', ['use_depthwise', 'share_conv'])
def test_lite_rtmdet_head_bad_arguments(name):
    with pytest.raises(TypeError, match=name):
        _head(**{name: 'yes'})


@pytest.mark.parametrize('path', [
    SSDLITE_MNV2,
    'configs/rtmdet_lite/rtmdet-lite_shufflenet-v2-1x_320_coco.py',
    'configs/rtmdet_lite/rtmdet-lite_shufflenet-v2-1x_416_coco.py',
])
def test_coco_pipelines_give_the_input_size(path, tmp_path):
    """The COCO configs' training pipelines (SSD's expand and crop;
    RTMDet's cached Mosaic and MixUp, then its second-stage pipeline) and
    test pipeline run on COCO-format data and give images of the config's
    input size."""
    import re

    from mmdet.registry import DATASETS

    from mmshuffle.datasets.toy import DET_CLASSES, make_toy_detection
    make_toy_detection(
        str(tmp_path), num_train=6, num_val=2, size=160, progress=False)
    cfg = Config.fromfile(osp.join(ROOT, path))
    size = int(re.search(r'_(\d+)_coco', path).group(1))
    pipelines = [('train', cfg.train_dataloader.dataset.get(
        'dataset', cfg.train_dataloader.dataset).pipeline)]
    for hook in cfg.custom_hooks:
        if hook.type == 'PipelineSwitchHook':
            pipelines.append(('train', hook.switch_pipeline))
    pipelines.append(('val', cfg.test_dataloader.dataset.pipeline))
    for split, pipeline in pipelines:
        with DefaultScope.overwrite_default_scope('mmdet'):
            dataset = DATASETS.build(
                dict(
                    type='CocoDataset',
                    data_root=str(tmp_path),
                    ann_file=f'annotations/instances_{split}.json',
                    data_prefix=dict(img=f'{split}/'),
                    metainfo=dict(classes=DET_CLASSES),
                    test_mode=split == 'val',
                    pipeline=pipeline))
        for i in range(len(dataset)):  # fills Mosaic's and MixUp's caches
            sample = dataset[i]
            assert tuple(sample['inputs'].shape) == (3, size, size), split
            boxes = sample['data_samples'].gt_instances.bboxes.tensor
            assert ((boxes >= -1) & (boxes <= size + 1)).all()
