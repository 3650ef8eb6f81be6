"""The DetNAS detectors (configs/detnas): each builds on its searched
backbone with the authors' ImageNet weights named by its init_cfg, and
carries the authors' recipe (BGR 0-255 input, SyncBN, FPN levels, losses,
schedule; configs/detnas/README.md says what is theirs and what inferred);
the CPU-sized toy DetNAS Faster R-CNN trains, predicts on an odd-sized
image and exports end to end, box for box."""
import copy
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from helpers import TOY_DET, assert_toy_export_matches, build_detector
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DETNAS = osp.join(ROOT, 'configs', 'detnas')
TOY = osp.join(TOY_DET, 'faster-rcnn_detnas-coco-fpn-300m_fpn_toy-det.py')
#: config -> (backbone arch, stage widths the neck takes, data set)
DETECTORS = {
    'faster-rcnn_detnas-coco-fpn-300m_fpn_1x_coco':
    ('coco-fpn-300m', [64, 160, 320, 640], 'coco'),
    'faster-rcnn_detnas-coco-fpn-1.3g_fpn_1x_coco':
    ('coco-fpn-1.3g', [96, 240, 480, 960], 'coco'),
    'faster-rcnn_detnas-coco-fpn-3.8g_fpn_1x_coco':
    ('coco-fpn-3.8g', [172, 432, 864, 1728], 'coco'),
    'retinanet_detnas-coco-retinanet-300m_fpn_1x_coco':
    ('coco-retinanet-300m', [160, 320, 640], 'coco'),
    'faster-rcnn_detnas-voc-fpn-300m_fpn_1x_voc0712':
    ('voc-fpn-300m', [64, 160, 320, 640], 'voc'),
    'retinanet_detnas-voc-retinanet-300m_fpn_1x_voc0712':
    ('voc-retinanet-300m', [160, 320, 640], 'voc'),
}
SYNC_BN = dict(type='SyncBN', requires_grad=True)


def test_every_detnas_detector_config_is_listed():
    found = {
        osp.basename(p)[:-3]
        for p in glob.glob(osp.join(DETNAS, '*.py'))
        if not p.endswith('_megvii-in1k.py')
    }
    assert found == set(DETECTORS)


@pytest.mark.parametrize('name', sorted(DETECTORS))
def test_config_builds_on_its_searched_backbone(name):
    from mmdet.registry import MODELS

    from mmshuffle.models.backbones.shufflenet_searched import \
        ShuffleNetV2DetNAS
    arch, widths, data = DETECTORS[name]
    cfg = Config.fromfile(osp.join(DETNAS, name + '.py'))
    assert cfg.default_scope == 'mmdet'
    bb = cfg.model.backbone
    assert bb.type == 'mmshuffle.ShuffleNetV2DetNAS' and bb.arch == arch
    assert bb.init_cfg == dict(
        type='Pretrained', prefix='backbone.',
        checkpoint=f'checkpoints/detnas-{arch}_megvii-in1k.pth')
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)  # no weights are loaded here
    assert isinstance(model.backbone, ShuffleNetV2DetNAS)
    assert model.backbone.arch == arch
    assert list(model.backbone.out_channels) == widths
    assert list(model.neck.in_channels) == widths
    # MEGVII's ImageNet weights take BGR 0-255 pixels without mean/std
    pre = cfg.model.data_preprocessor
    assert (pre.mean, pre.std, pre.bgr_to_rgb) == (None, None, False)
    x = torch.full((1, 3, 32, 32), 200.)
    fed = model.data_preprocessor({'inputs': [x[0]]}, False)
    assert torch.equal(fed['inputs'], x)
    # every backbone BN trained with SyncBN, nothing frozen
    assert bb.norm_cfg == SYNC_BN and bb.norm_eval is False
    assert bb.frozen_stages == -1
    head = cfg.model.get('bbox_head') or cfg.model.roi_head.bbox_head
    assert head.num_classes == (80 if data == 'coco' else 20)
    if name.startswith('faster-rcnn'):
        _check_faster_rcnn(cfg, model)
    else:
        _check_retinanet(cfg, model)
    _check_schedule_and_data(cfg, name, data)


def _check_faster_rcnn(cfg, model):
    # the authors' FPN detector: P2-P6, SyncBN in the FPN and the
    # 4conv1fc box head, RoIAlign 7x7 with 2 samples on P2-P5
    assert list(model.backbone.out_strides) == [4, 8, 16, 32]
    assert cfg.model.neck.norm_cfg == SYNC_BN
    assert cfg.model.neck.num_outs == 5
    assert not cfg.model.neck.get('add_extra_convs')  # P6 by max-pooling
    rpn = model.rpn_head.prior_generator
    assert [s[0] for s in rpn.strides] == [4, 8, 16, 32, 64]
    assert [int(s * rpn.scales[0]) for s, _ in rpn.strides] == [
        32, 64, 128, 256, 512]
    roi = cfg.model.roi_head
    assert roi.bbox_roi_extractor.featmap_strides == [4, 8, 16, 32]
    assert roi.bbox_roi_extractor.roi_layer.sampling_ratio == 2
    assert type(model.roi_head.bbox_head).__name__ == \
        'Shared4Conv1FCBBoxHead'
    assert roi.bbox_head.norm_cfg == SYNC_BN
    assert roi.bbox_head.bbox_coder.target_stds == [0.1, 0.1, 0.2, 0.2]
    assert cfg.model.rpn_head.loss_bbox == dict(
        type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=1.0)
    assert roi.bbox_head.loss_bbox == dict(
        type='SmoothL1Loss', beta=1.0, loss_weight=1.0)
    assert cfg.model.train_cfg.rpn_proposal.nms_pre == 2000
    assert cfg.model.test_cfg.rpn.max_per_img == 1000
    assert cfg.optim_wrapper.optimizer.lr == 0.02


def _check_retinanet(cfg, model):
    # the authors' RetinaNet: P3-P7 from stages 2-4, P6/P7 by convs on P5,
    # no norm layers in FPN and head
    assert list(model.backbone.out_strides) == [8, 16, 32]
    neck = cfg.model.neck
    assert neck.add_extra_convs == 'on_output' and neck.num_outs == 5
    assert 'norm_cfg' not in neck and 'norm_cfg' not in cfg.model.bbox_head
    gen = model.bbox_head.prior_generator
    assert [s[0] for s in gen.strides] == [8, 16, 32, 64, 128]
    assert gen.octave_base_scale == 4 and gen.scales_per_octave == 3
    head = cfg.model.bbox_head
    assert (head.loss_cls.type, head.loss_cls.alpha,
            head.loss_cls.gamma) == ('FocalLoss', 0.25, 2.0)
    assert head.bbox_coder.target_stds == [0.1, 0.1, 0.2, 0.2]
    assert head.loss_bbox == dict(
        type='SmoothL1Loss', beta=0.11, loss_weight=0.25)
    assert cfg.model.train_cfg.assigner.pos_iou_thr == 0.5
    assert cfg.model.train_cfg.assigner.neg_iou_thr == 0.4
    assert cfg.model.test_cfg.nms.iou_threshold == 0.4
    assert cfg.optim_wrapper.optimizer.lr == 0.01


def _check_schedule_and_data(cfg, name, data):
    opt = cfg.optim_wrapper
    assert (opt.optimizer.type, opt.optimizer.momentum,
            opt.optimizer.weight_decay) == ('SGD', 0.9, 1e-4)
    assert opt.paramwise_cfg == dict(bias_lr_mult=2.0, bias_decay_mult=0.0)
    # 8 GPUs x 2 images
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr.base_batch_size == 16
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.by_epoch, warmup.begin, warmup.end) == (
        'LinearLR', False, 0, 500)
    assert warmup.start_factor == pytest.approx(1 / 3)
    assert (steps.type, steps.gamma, steps.by_epoch) == ('MultiStepLR', 0.1,
                                                         True)
    train = cfg.train_dataloader.dataset
    if data == 'coco':
        # their 90k iterations (steps 60k, 80k) at 16 images: mmdet's 1x
        assert cfg.train_cfg.max_epochs == 12 and steps.milestones == [8, 11]
        assert train.ann_file == 'annotations/instances_train2017.json'
        assert cfg.val_evaluator.type == 'CocoMetric'
        resize = [t for t in cfg.train_pipeline if t.type == 'Resize'][0]
        assert resize.scale == (1333, 800)
    else:
        # VOC07+12 trainval x 3, 4 epochs, step after 3; VOC07 test,
        # 11-point mAP at IoU 0.5
        assert cfg.train_cfg.max_epochs == 4 and steps.milestones == [3]
        assert (train.type, train.times) == ('RepeatDataset', 3)
        assert [d.ann_file for d in train.dataset.datasets] == [
            'VOC2007/ImageSets/Main/trainval.txt',
            'VOC2012/ImageSets/Main/trainval.txt']
        assert cfg.test_dataloader.dataset.ann_file == \
            'VOC2007/ImageSets/Main/test.txt'
        ev = cfg.test_evaluator
        assert (ev.type, ev.eval_mode, ev.iou_thrs) == ('VOCMetric',
                                                        '11points', [0.5])
        resize = [t for t in cfg.train_pipeline if t.type == 'Resize'][0]
        assert resize.scale == (1000, 600)
    _check_pipelines(cfg)


def _check_pipelines(cfg):
    from mmdet.registry import TRANSFORMS
    from mmengine.dataset import Compose
    with DefaultScope.overwrite_default_scope('mmdet'):
        for steps in (cfg.train_pipeline, cfg.test_pipeline):
            assert len(Compose([TRANSFORMS.build(t)
                                for t in steps]).transforms) == len(steps)


def test_larger_detnas_detectors_only_change_the_backbone():
    base = Config.fromfile(
        osp.join(DETNAS, 'faster-rcnn_detnas-coco-fpn-300m_fpn_1x_coco.py'))
    for size in ('1.3g', '3.8g'):
        cfg = Config.fromfile(osp.join(
            DETNAS, f'faster-rcnn_detnas-coco-fpn-{size}_fpn_1x_coco.py'))
        for key in ('rpn_head', 'roi_head', 'train_cfg', 'test_cfg',
                    'data_preprocessor'):
            assert cfg.model[key] == base.model[key], key
        for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                    'train_dataloader', 'test_dataloader'):
            assert cfg[key] == base[key], key


# ----------------------------------------------------------------------
# the toy DetNAS Faster R-CNN
# ----------------------------------------------------------------------
def test_toy_config_is_the_detnas_layout_cpu_sized():
    cfg = Config.fromfile(TOY)
    bb = cfg.model.backbone
    assert (bb.type, bb.arch, tuple(bb.stage_blocks)) == (
        'mmshuffle.ShuffleNetV2DetNAS', 'coco-fpn-300m', (1, 1, 1, 1))
    assert bb.init_cfg is None  # no pretrained weights
    assert bb.norm_eval is False and bb.norm_cfg.type == 'BN'
    pre = cfg.model.data_preprocessor
    assert (pre.mean, pre.std, pre.bgr_to_rgb) == (None, None, False)
    assert cfg.model.rpn_head.anchor_generator.strides == [4, 8, 16, 32, 64]
    assert cfg.model.roi_head.bbox_roi_extractor.featmap_strides == [
        4, 8, 16, 32]
    assert cfg.model.roi_head.bbox_head.num_classes == 4
    assert cfg.train_dataloader.dataset.data_root == 'data/toy_det/'


def test_toy_detector_trains_and_predicts_on_an_odd_sized_image():
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    cfg = Config.fromfile(TOY)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    packed = demo_mm_inputs(
        batch_size=2, image_shapes=[(3, 97, 131), (3, 120, 90)],
        num_items=[3, 2], num_classes=4)
    model.train()
    data = model.data_preprocessor(packed, True)
    assert data['inputs'].shape[-2:] == (128, 160)  # padded to 32
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    assert torch.isfinite(loss)
    loss.backward()
    backbone = model.backbone
    unused = {id(p) for m in backbone._unused_modules()
              for p in m.parameters()}  # conv_last: not an output here
    used = [(n, p) for n, p in backbone.named_parameters()
            if id(p) not in unused]
    assert used
    for n, p in used:
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
    assert any(p.grad.abs().sum() > 0 for _, p in used)
    model.eval()
    odd = demo_mm_inputs(batch_size=1, image_shapes=[(3, 77, 101)],
                         num_items=[1], num_classes=4)
    with torch.no_grad():
        (res, ) = model.test_step(odd)
    assert tuple(res.ori_shape) == (77, 101)
    boxes = res.pred_instances.bboxes
    assert boxes.shape[1] == 4 and torch.isfinite(boxes).all()
    if len(boxes):
        assert (boxes[:, 0::2] <= 101).all() and (boxes[:, 1::2] <= 77).all()


def test_toy_detector_exports_end_to_end_box_for_box(tmp_path):
    """The exporter (mmshuffle.deploy.detection, as pytorch2onnx.py runs it)
    on the toy DetNAS Faster R-CNN with random, confident weights: the
    graph (RoIAlign, NMS, top-K inside) gives mmdet's predictions box for
    box in onnxruntime, at two input sizes (H and W dynamic)."""
    import onnx

    from mmshuffle.deploy.detection import (DetectorForExport,
                                            export_detector)
    from mmshuffle.deploy.metadata import read_metadata
    model = build_detector(TOY)
    # its random BN statistics are those of unit-scale activations: scale
    # the stem to the 0-255 pixels it takes (as ImageNet weights for BGR
    # 0-255 input are), or every score saturates to 1 (ties everywhere)
    with torch.no_grad():
        model.backbone.conv1.conv.weight.div_(58.)
    reference = copy.deepcopy(model)
    out = str(tmp_path / 'detnas.onnx')
    export_detector(DetectorForExport(model), out, (160, 160))
    ops = {node.op_type for node in onnx.load(out).graph.node}
    assert {'NonMaxSuppression', 'TopK', 'RoiAlign'} <= ops
    assert 'BatchNormalization' not in ops
    meta = read_metadata(out)
    assert meta['task'] == 'detection'
    # BGR 0-255, as the data preprocessor passes it on
    assert_toy_export_matches(reference, out, tmp_path,
                              lambda bgr: bgr.astype(np.float32))
