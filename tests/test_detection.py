"""Every detection config builds, trains one step and predicts on CPU; its
feature pyramid agrees with what the backbone reports; the COCO evaluation
path gives mAP 1.0 for perfect predictions."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from helpers import make_tiny_toy_data, run_tool_in_process
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401
from mmshuffle.datasets.toy import DET_CLASSES, make_toy_detection
from mmshuffle.engine.cli import parse_metrics

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DET_CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'retinanet', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'faster_rcnn', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'ssdlite', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'rtmdet_lite', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'light_head_rcnn', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'toy', '*toy-det.py')))


def config_id(path):
    return osp.basename(path)[:-3]


def build_detector(cfg):
    from mmdet.registry import MODELS
    cfg.model.backbone.init_cfg = None  # no weights needed here
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_configs_exist():
    names = {config_id(p) for p in DET_CONFIGS}
    for bb in ('shufflenet-v1-1x-g3', 'shufflenet-v2-1x', 'mobilenet-v2-1x'):
        assert f'retinanet_{bb}_fpn_1x_coco' in names
        assert f'faster-rcnn_{bb}_fpn_1x_coco' in names
        assert f'retinanet-lite_{bb}_lite-fpn_1x_coco' in names
    assert 'retinanet_shufflenet-v2-star-1x_fpn_1x_coco' in names
    for bb in ('shufflenet-v1-1x-g3', 'shufflenet-v2-1x', 'mobilenet-v2-1x'):
        assert f'ssdlite_{bb}_320_coco' in names
        assert f'ssdlite_{bb}_320_toy-det' in names
        assert f'rtmdet-lite_{bb}_320_coco' in names
        assert f'rtmdet-lite_{bb}_416_coco' in names
        assert f'rtmdet-lite_{bb}_320_toy-det' in names
        # the toy accuracy-latency table: every family on every backbone
        assert f'retinanet_{bb}_fpn_toy-det' in names
        assert f'retinanet-lite_{bb}_lite-fpn_toy-det' in names
    for bb in ('shufflenet-v2-plus-small', 'shufflenet-v2-plus-large'):
        assert f'ssdlite_{bb}_320_coco' in names
        assert f'rtmdet-lite_{bb}_320_coco' in names
        assert f'rtmdet-lite_{bb}_416_coco' in names


@pytest.mark.parametrize('path', DET_CONFIGS, ids=config_id)
def test_pyramid_matches_the_backbone(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmdet'
    assert cfg.model.backbone.type.startswith('mmshuffle.')
    init = Config.fromfile(path).model.backbone.init_cfg
    if 'detnas' in path and 'toy-det' in path:
        # no toy-shapes classifier of DetNAS's layout to start from
        assert init is None
    else:
        assert init.type == 'Pretrained' and init.prefix == 'backbone.'
    model = build_detector(cfg)
    backbone = model.backbone
    if 'neck' not in cfg.model:  # Light-Head R-CNN reads the backbone
        _check_light_head_levels(model)
        return
    # (mmdet's SSDNeck keeps no in_channels: the config's are checked)
    neck_in = getattr(model.neck, 'in_channels', cfg.model.neck.in_channels)
    assert list(neck_in) == list(backbone.out_channels)
    strides = list(backbone.out_strides)
    head = getattr(model, 'bbox_head', None) or model.rpn_head
    anchor_strides = [s[0] for s in head.prior_generator.strides]
    if cfg.model.neck.type == 'SSDNeck':
        _check_ssd_pyramid(cfg, model, anchor_strides)
        return
    if 'num_outs' in cfg.model.neck:
        num_levels = cfg.model.neck.num_outs
    else:  # a PAN: one output per backbone output
        num_levels = len(strides)
        assert cfg.model.bbox_head.in_channels == cfg.model.neck.out_channels
    # one anchor level per pyramid level, the first ones at the backbone's
    # real output strides, each extra level twice the previous
    assert len(anchor_strides) == num_levels
    assert anchor_strides[:len(strides)] == strides
    for a, b in zip(anchor_strides, anchor_strides[1:]):
        assert b == 2 * a
    if hasattr(model, 'roi_head'):
        roi_strides = list(
            model.roi_head.bbox_roi_extractor.featmap_strides)
        assert roi_strides == anchor_strides[:len(roi_strides)]


def _check_light_head_levels(model):
    """The RPN on the backbone's stride-16 output, the thin map on its
    stride-32 one, each with that output's channels."""
    backbone, rpn = model.backbone, model.rpn_head
    extractor = model.roi_head.bbox_roi_extractor
    assert backbone.out_strides == (16, 32)
    assert [s[0] for s in rpn.prior_generator.strides] == [
        backbone.out_strides[rpn.in_index]]
    assert rpn.in_channels == backbone.out_channels[rpn.in_index]
    assert list(extractor.featmap_strides) == list(backbone.out_strides)
    assert extractor.conv.col_row[0].in_channels == \
        backbone.out_channels[extractor.in_index]
    assert extractor.spatial_scale == 1 / 32


def _check_ssd_pyramid(cfg, model, anchor_strides):
    """SSD: the two backbone outputs at their real strides, then stride-2
    extra levels whose anchor strides are the input size over the map
    size (320 / 3 ~ 107); the head sees every neck output."""
    backbone = model.backbone
    out_channels = list(cfg.model.neck.out_channels)
    assert out_channels[:len(backbone.out_channels)] == list(
        backbone.out_channels)
    assert list(cfg.model.bbox_head.in_channels) == out_channels
    assert anchor_strides[:len(backbone.out_strides)] == list(
        backbone.out_strides)
    size = 320  # the configs' input size
    model.eval()
    with torch.no_grad():
        feats = model.neck(backbone(torch.zeros(1, 3, size, size)))
    assert [f.shape[1] for f in feats] == out_channels
    assert len(feats) == len(anchor_strides)
    for feat, stride in zip(feats, anchor_strides):
        assert feat.shape[-1] == -(-size // stride), (feat.shape, stride)


def _batch(num_classes):
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 197, 250), (3, 230, 181)],
        num_items=[3, 2],
        num_classes=num_classes)


@pytest.mark.parametrize('path', DET_CONFIGS, ids=config_id)
def test_train_step_and_inference(path):
    cfg = Config.fromfile(path)
    model = build_detector(cfg)
    head_cfg = cfg.model.get('bbox_head') or cfg.model.roi_head.bbox_head
    packed = _batch(head_cfg.num_classes)
    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    backbone = model.backbone
    frozen = {
        id(p)
        for m in backbone._frozen_modules() for p in m.parameters()
    }
    unused = {
        id(p)
        for m in backbone._unused_modules() for p in m.parameters()
    }
    # (BN affine parameters with requires_grad=False, as in Light-Head
    # R-CNN's frozen BN, are frozen by the config)
    trainable = [(n, p) for n, p in backbone.named_parameters()
                 if id(p) not in frozen | unused and p.requires_grad]
    assert trainable
    for n, p in trainable:
        assert p.grad is not None, f'no gradient reached backbone.{n}'
    for n, p in backbone.named_parameters():
        if id(p) in frozen:
            assert p.grad is None, n
    model.eval()
    with torch.no_grad():
        results = model.test_step(packed)
    assert len(results) == 2
    for res, (h, w) in zip(results, [(197, 250), (230, 181)]):
        boxes = res.pred_instances.bboxes
        assert boxes.shape[1] == 4 and torch.isfinite(boxes).all()
        assert tuple(res.ori_shape) == (h, w)


def test_coco_evaluation_of_perfect_predictions_is_1(tmp_path):
    from mmdet.evaluation import CocoMetric
    from pycocotools.coco import COCO
    make_toy_detection(
        str(tmp_path), num_train=4, num_val=12, size=128, progress=False)
    ann = str(tmp_path / 'annotations' / 'instances_val.json')
    coco = COCO(ann)
    metric = CocoMetric(ann_file=ann, metric='bbox')
    metric.dataset_meta = dict(classes=DET_CLASSES)
    samples = []
    for img_id in coco.getImgIds():
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        boxes = np.array([[a['bbox'][0], a['bbox'][1],
                           a['bbox'][0] + a['bbox'][2],
                           a['bbox'][1] + a['bbox'][3]] for a in anns],
                         dtype=np.float32).reshape(-1, 4)
        labels = np.array([a['category_id'] - 1 for a in anns])
        samples.append(
            dict(
                img_id=img_id,
                ori_shape=(128, 128),
                pred_instances=dict(
                    bboxes=torch.from_numpy(boxes),
                    scores=torch.ones(len(anns)),
                    labels=torch.from_numpy(labels))))
    metric.process({}, samples)
    result = metric.evaluate(len(samples))
    assert result['coco/bbox_mAP'] == pytest.approx(1.0)
    assert result['coco/bbox_mAP_50'] == pytest.approx(1.0)
    # and a wrong class everywhere gives 0
    metric = CocoMetric(ann_file=ann, metric='bbox')
    metric.dataset_meta = dict(classes=DET_CLASSES)
    for s in samples:
        s['pred_instances']['labels'] = (s['pred_instances']['labels'] +
                                         1) % len(DET_CLASSES)
    metric.process({}, samples)
    assert metric.evaluate(len(samples))['coco/bbox_mAP'] == 0.0


@pytest.mark.slow
def test_train_test_show_dir_through_the_clis(tmp_path):
    import subprocess
    import sys
    make_tiny_toy_data(tmp_path, det=(8, 4, 128))
    config = osp.join(ROOT, 'configs', 'toy',
                      'retinanet_shufflenet-v2-1x_fpn_toy-det.py')
    common = [
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
        'test_dataloader.num_workers=0'
    ]

    def run(args):
        proc = subprocess.run([sys.executable] + args,
                              cwd=tmp_path,
                              capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    run([
        osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', 'run',
        '--cfg-options', 'model.backbone.init_cfg=None',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1'
    ] + common)
    assert (tmp_path / 'run' / 'epoch_1.pth').is_file()
    proc = run([
        osp.join(ROOT, 'tools', 'test.py'), config, 'run/epoch_1.pth',
        '--work-dir', 'test', '--show-dir', 'pictures', '--cfg-options',
        'model.test_cfg.score_thr=0.0'  # an untrained model: keep every box
    ] + common)
    metrics = parse_metrics(proc.stdout)
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75',
                'coco/bbox_mAP_s', 'coco/bbox_mAP_m', 'coco/bbox_mAP_l'):
        assert key in metrics
    pictures = list((tmp_path / 'pictures').rglob('*.png')) + list(
        (tmp_path / 'pictures').rglob('*.jpg'))
    assert len(pictures) == 4


@pytest.mark.slow
def test_test_tool_on_an_ema_detector(tmp_path, capsys, monkeypatch):
    """RTMDet-lite trains with an EMA hook, which saves the averaged weights
    as the checkpoint's state_dict; tools/test.py evaluates them (plain and
    --deploy, in this process) and gives the metrics of the training's
    last validation."""
    import json
    import subprocess
    import sys
    make_tiny_toy_data(tmp_path, det=(8, 4, 128))
    config = osp.join(ROOT, 'configs', 'toy',
                      'rtmdet-lite_shufflenet-v2-1x_320_toy-det.py')
    common = [
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
        'test_dataloader.num_workers=0', 'model.backbone.init_cfg=None',
        'model.test_cfg.score_thr=0.0'  # an untrained model: keep every box
    ]

    def run(args):
        proc = subprocess.run([sys.executable] + args, cwd=tmp_path,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    run([osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', 'run',
         '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1'
         ] + common)
    ckpt = torch.load(tmp_path / 'run' / 'epoch_1.pth', map_location='cpu',
                      weights_only=False)
    assert 'ema_state_dict' in ckpt
    (scalars, ) = (tmp_path / 'run').glob('*/vis_data/scalars.json')
    val = [json.loads(ln) for ln in scalars.read_text().splitlines()
           if 'coco/bbox_mAP' in ln][-1]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('LOCAL_RANK', '0')  # what test.py would set
    threads = torch.get_num_threads()
    for deploy in ([], ['--deploy']):
        code, stdout, err = run_tool_in_process(
            osp.join(ROOT, 'tools', 'test.py'),
            [config, 'run/epoch_1.pth', '--work-dir', 'test', '--cfg-options'
             ] + common + deploy, capsys)
        torch.set_num_threads(threads)
        assert code == 0, err[-3000:]
        metrics = parse_metrics(stdout)
        for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50'):
            assert metrics[key] == pytest.approx(val[key], abs=1e-3), (
                deploy, key, metrics[key], val[key])
