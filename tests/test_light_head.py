"""Light-Head R-CNN (configs/light_head_rcnn): the large separable conv,
position-sensitive RoIAlign and the thin-map head build on every backbone,
train (gradients reach the non-frozen backbone), predict on odd-sized
images, evaluate on the toy set with the COCO metric, refuse inconsistent
configs at build time, and export end to end in standard ONNX operators,
box for box."""
import copy
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from helpers import (TOY_DET, assert_toy_export_matches, build_detector,
                     make_tiny_toy_data)
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401
from mmshuffle.models.roi_heads import (LargeSeparableConv,
                                        PSRoIAlignExtractor)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs', 'light_head_rcnn')
TOY = osp.join(TOY_DET,
               'light-head-rcnn_shufflenet-v2-1x_small-head_toy-det.py')
#: backbone -> (type, out_indices, channels at strides 16 and 32)
BACKBONES = {
    'shufflenet-v2-1x': ('mmshuffle.ShuffleNetV2', (1, 3), 232, 1024),
    'shufflenet-v2-1.5x': ('mmshuffle.ShuffleNetV2', (1, 3), 352, 1024),
    'shufflenet-v2-star-1x': ('mmshuffle.ShuffleNetV2', (1, 3), 232, 1024),
    'shufflenet-v1-1x-g3': ('mmshuffle.ShuffleNetV1', (1, 2), 480, 960),
    'mobilenet-v2-1x': ('mmshuffle.MobileNetV2', (4, 7), 96, 1280),
}


def build(cfg):
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)


def test_every_backbone_has_a_coco_config():
    names = sorted(osp.basename(p)[:-3]
                   for p in glob.glob(osp.join(CONFIGS, '*.py')))
    assert names == sorted(f'light-head-rcnn_{b}_small-head_20e_coco'
                           for b in BACKBONES)


@pytest.mark.parametrize('backbone', sorted(BACKBONES))
def test_coco_config_is_the_small_setting(backbone):
    cfg = Config.fromfile(osp.join(
        CONFIGS, f'light-head-rcnn_{backbone}_small-head_20e_coco.py'))
    kind, outs, c16, c32 = BACKBONES[backbone]
    bb = cfg.model.backbone
    assert (bb.type, tuple(bb.out_indices)) == (kind, outs)
    assert bb.get('extra_dw', False) == ('star' in backbone)
    assert bb.init_cfg.checkpoint.startswith(f'checkpoints/{backbone}_')
    cfg.model.backbone.init_cfg = None
    model = build(cfg.model)
    assert model.backbone.out_strides == (16, 32)
    assert model.backbone.out_channels == (c16, c32)
    ext, head = model.roi_head.bbox_roi_extractor, model.roi_head.bbox_head
    assert ext.conv.col_row[0].kernel_size == (15, 1)
    assert ext.conv.col_row[0].out_channels == 64  # C_mid, small setting
    assert ext.thin_channels == 490 and ext.output_size == 7
    assert ext.spatial_scale == 1 / 32
    assert [fc.out_features for fc in head.shared_fcs] == [2048]
    anchors = model.rpn_head.prior_generator
    assert anchors.strides == [(16, 16)] and anchors.num_base_priors == [15]
    # input 800 x 1200, the paper's; the authors' schedule
    resize = [t for t in cfg.test_dataloader.dataset.pipeline
              if t.type == 'Resize'][0]
    assert resize.scale == (1200, 800)
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.train_cfg.max_epochs == 20
    assert cfg.model.train_cfg.rcnn.sampler.type == 'OHEMSampler'


def test_large_separable_conv_and_ps_roi_align():
    from torchvision.ops import ps_roi_align
    torch.manual_seed(0)
    conv = LargeSeparableConv(8, 98, 4, 5)
    x = torch.randn(2, 8, 12, 10)
    y = conv(x)
    assert y.shape == (2, 98, 12, 10) and (y >= 0).all()
    expected = torch.relu(conv.col_row[1](conv.col_row[0](x)) +
                          conv.row_col[1](conv.row_col[0](x)))
    assert torch.equal(y, expected)
    ext = PSRoIAlignExtractor(8, [16, 32], thin_channels=98, output_size=7,
                              mid_channels=4, kernel_size=5)
    assert ext.out_channels == 2 and ext.num_inputs == 2
    rois = torch.tensor([[0, 4., 8., 200., 150.], [1, -20., 30., 90., 310.]])
    feats = (torch.randn(2, 3, 24, 20), x)
    out = ext(feats, rois)
    thin = ext.conv(x)
    assert torch.equal(out, ps_roi_align(thin, rois, 7, 1 / 32, 2))
    assert out.shape == (2, 2, 7, 7)


@pytest.mark.parametrize('sampling_ratio', [1, 2, 3])
def test_exported_form_of_ps_roi_align_equals_torchvisions(sampling_ratio):
    """The exporter writes position-sensitive RoIAlign as one RoIAlign per
    bin over that bin's channel group: equal to ``ps_roi_align`` for a
    batch of 3, RoIs inside, across and outside the map, of zero and
    negative size, and for no RoI at all."""
    from torchvision.ops import ps_roi_align

    from mmshuffle.deploy.detection.graph import TwoStagePost
    cfg = Config.fromfile(TOY)
    cfg.model.backbone.init_cfg = None
    cfg.model.roi_head.bbox_roi_extractor.sampling_ratio = sampling_ratio
    post = TwoStagePost(build(cfg.model).eval())
    ext = post.extractor
    gen = torch.Generator().manual_seed(sampling_ratio)
    feats = (torch.randn(3, 232, 6, 8, generator=gen),
             torch.randn(3, 1024, 5, 7, generator=gen))
    xy = torch.rand(200, 2, generator=gen) * 300 - 50
    wh = torch.rand(200, 2, generator=gen) * 200
    wh[:5] = 0
    wh[5:10] = -10
    rois = torch.cat([xy, xy + wh], dim=1)
    index = torch.randint(0, 3, (200, ), generator=gen)
    with torch.no_grad():
        thin = ext.thin_map(feats)
        expected = ps_roi_align(
            thin, torch.cat([index[:, None].float(), rois], 1), 7,
            1 / 32, sampling_ratio)
        got = post.extract_ps_rois(feats, rois, index)
        assert got.shape == expected.shape == (200, 10, 7, 7)
        assert (got - expected).abs().max() <= 1e-5 * max(
            1.0, expected.abs().max().item())
        empty = post.extract_ps_rois(feats, rois[:0], index[:0])
    assert empty.shape == (0, 10, 7, 7)


@pytest.mark.parametrize('kwargs,match', [
    (dict(thin_channels=480), r'thin_channels \(480\) must be a multiple of '
     r'output_size \* output_size \(7 \* 7 = 49\)'),
    (dict(kernel_size=14), 'kernel_size must be odd'),
    (dict(in_index=2), r'in_index must index featmap_strides \[16, 32\]'),
    (dict(sampling_ratio=0), r'sampling_ratio must be an int >= 1'),
])
def test_extractor_refuses_inconsistent_arguments(kwargs, match):
    args = dict(in_channels=8, featmap_strides=[16, 32])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        PSRoIAlignExtractor(**args)


@pytest.mark.parametrize('change,match', [
    (dict(bbox_head=dict(roi_feat_size=5)),
     r'pools 7 x 7 bins but the box head expects roi_feat_size=5'),
    (dict(bbox_roi_extractor=dict(output_size=5, thin_channels=250)),
     r'pools 5 x 5 bins but the box head expects roi_feat_size=7'),
    (dict(bbox_head=dict(in_channels=8)),
     r'gives 10 channels per bin .* expects in_channels=8'),
])
def test_head_and_extractor_must_agree_at_build_time(change, match):
    cfg = Config.fromfile(TOY)
    cfg.model.backbone.init_cfg = None
    for key, value in change.items():
        cfg.model.roi_head[key].update(value)
    with pytest.raises(ValueError, match=match):
        build(cfg.model)


def test_toy_detector_trains_predicts_and_evaluates(tmp_path):
    from mmdet.structures import DetDataSample
    from mmengine.runner import Runner
    from mmengine.structures import InstanceData
    cfg = Config.fromfile(TOY)
    cfg.model.backbone.init_cfg = None
    model = build(cfg.model)
    model.init_weights()
    model.train()
    x = torch.randn(2, 3, 160, 224)
    samples = []
    for _ in range(2):
        sample = DetDataSample(metainfo=dict(
            img_shape=(160, 224), pad_shape=(160, 224),
            batch_input_shape=(160, 224), scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[10., 20., 100., 120.], [60, 30, 200, 150]]),
            labels=torch.tensor([1, 3]))
        samples.append(sample)
    losses = model.loss(x, samples)
    assert {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox'} <= set(
        losses)
    total, _ = model.parse_losses(losses)
    total.backward()
    ext = model.roi_head.bbox_roi_extractor
    for name, p in list(model.backbone.named_parameters()) + list(
            ext.named_parameters()):
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.backbone.layers[1][0].branch2[0].conv.weight.grad is not None
    # an odd-sized image, padded to 32 by the data preprocessor
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(dict(
            inputs=[torch.randint(0, 255, (3, 77, 101), dtype=torch.uint8)],
            data_samples=[DetDataSample(metainfo=dict(
                img_shape=(77, 101), ori_shape=(77, 101),
                scale_factor=(1., 1.)))]), False)
        result = model(**batch, mode='predict')[0].pred_instances
    assert len(result) > 0
    assert (result.bboxes[:, 2] <= 101).all() and (result.bboxes[:, 3] <=
                                                     77).all()
    # COCO evaluation of the toy val set through the config's evaluator
    make_tiny_toy_data(tmp_path, det=(1, 4, 160))
    cfg.work_dir = str(tmp_path / 'work')
    root = str(tmp_path / 'data' / 'toy_det') + '/'
    cfg.test_dataloader.dataset.data_root = root
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    cfg.test_evaluator.ann_file = root + 'annotations/instances_val.json'
    cfg.load_from = None
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert 0 <= metrics['coco/bbox_mAP'] <= 1
    assert 'coco/bbox_mAP_50' in metrics


def test_toy_detector_exports_end_to_end_box_for_box(tmp_path,
                                                     one_unit_stages):
    """The exporter writes position-sensitive RoIAlign as standard RoiAlign
    ops (no custom operator in the graph); onnxruntime gives mmdet's
    predictions box for box at two input sizes (one unit per ShuffleNetV2
    stage: the same graph around the head, cheaper to export)."""
    import onnx

    from mmshuffle.deploy.detection import (DetectorForExport,
                                            export_detector)
    cfg = Config.fromfile(TOY)
    cfg.model.backbone.init_cfg = None
    model = build_detector(TOY, cfg)
    reference = copy.deepcopy(model)
    out = str(tmp_path / 'light_head.onnx')
    export_detector(DetectorForExport(model), out, (160, 160))
    graph = onnx.load(out).graph
    ops = {node.op_type for node in graph.node}
    assert {'NonMaxSuppression', 'TopK', 'RoiAlign'} <= ops
    assert all(node.domain in ('', 'ai.onnx') for node in graph.node)
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)
    assert_toy_export_matches(
        reference, out, tmp_path,
        lambda bgr: ((bgr[:, :, ::-1] - mean) / std).astype(np.float32))
