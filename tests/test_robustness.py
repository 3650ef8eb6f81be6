"""Degenerate but valid inputs work: detection training on images without
objects, grayscale images, tiny and very elongated images at inference;
and the toy detector serves 1,000 inference calls of random sizes without
its memory growing."""
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from helpers import make_tiny_toy_data
from mmengine.config import Config
from PIL import Image

import mmshuffle  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY = osp.join(ROOT, 'configs', 'toy')
RETINANET = osp.join(TOY, 'retinanet_shufflenet-v2-1x_fpn_toy-det.py')
FASTER_RCNN = osp.join(TOY, 'faster-rcnn_shufflenet-v2-1x_fpn_toy-det.py')
CLASSIFIER = osp.join(TOY, 'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
#: (height, width): tiny, very wide, very tall
ODD_SIZES = [(32, 32), (16, 900), (700, 20), (1, 1)]


def detector(path):
    from mmdet.apis import init_detector
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None  # no pretrained file needed
    return init_detector(cfg, None, device='cpu'), cfg


def gray_png(path, size=(48, 80)):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8),
                    mode='L').save(path)
    return str(path)


@pytest.mark.parametrize('config', [RETINANET, FASTER_RCNN],
                         ids=['retinanet', 'faster-rcnn'])
def test_detection_trains_on_images_without_objects(config, tmp_path,
                                                    monkeypatch):
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import OptimWrapper
    from mmengine.registry import init_default_scope
    from mmdet.registry import DATASETS

    from mmshuffle.datasets import check_coco_annotations
    from mmshuffle.engine.cli import fix_dataloaders

    monkeypatch.chdir(tmp_path)
    make_tiny_toy_data(tmp_path, det=(4, 2, 64))
    root = tmp_path / 'data' / 'toy_det'
    ann_file = root / 'annotations' / 'instances_train.json'
    data = json.loads(ann_file.read_text())
    empty = {img['id'] for img in data['images'][:2]}
    data['annotations'] = [
        a for a in data['annotations'] if a['image_id'] not in empty
    ]
    ann_file.write_text(json.dumps(data))
    check_coco_annotations(str(ann_file), str(root / 'train'))  # valid
    # one image with objects stored as grayscale
    rgb = root / 'train' / data['images'][2]['file_name']
    Image.open(rgb).convert('L').save(rgb)

    model, cfg = detector(config)
    model.train()
    init_default_scope('mmdet')
    fix_dataloaders(cfg)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == 4  # images without objects are kept
    assert [len(dataset[i]['data_samples'].gt_instances) == 0
            for i in range(3)] == [True, True, False]
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for batch in ([0, 1], [0, 2]):  # only empty images, then mixed
        log = model.train_step(
            pseudo_collate([dataset[i] for i in batch]), optim)
        assert all(math.isfinite(v.item()) for v in log.values()), log
    changed = [k for k, v in model.state_dict().items()
               if v.dtype.is_floating_point and not torch.equal(v, before[k])]
    assert any(k.startswith(('bbox_head', 'roi_head')) for k in changed)


def test_detection_inference_on_degenerate_images(tmp_path):
    from mmdet.apis import DetInferencer, inference_detector
    model, _ = detector(RETINANET)
    rng = np.random.default_rng(0)
    images = [gray_png(tmp_path / 'gray.png')] + [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for h, w in ODD_SIZES
    ]
    for img in images:
        result = inference_detector(model, img)
        h, w = result.ori_shape
        if isinstance(img, np.ndarray):
            assert (h, w) == img.shape[:2]
        else:
            assert (h, w) == (48, 80)
        boxes = result.pred_instances.bboxes
        assert len(boxes) > 0 and torch.isfinite(boxes).all()
        # boxes are clipped to the image, in its original coordinates
        assert boxes[:, 0::2].min() >= 0 and boxes[:, 0::2].max() <= w
        assert boxes[:, 1::2].min() >= 0 and boxes[:, 1::2].max() <= h
    # mmdet's inferencer finds the image loader in the config's pipeline
    # (a fresh config: inference_detector edits the pipeline it is given)
    cfg = Config.fromfile(RETINANET)
    cfg.model.backbone.init_cfg = None
    inferencer = DetInferencer(model=cfg, weights=None, device='cpu',
                               show_progress=False)
    out = inferencer(images[0], return_datasamples=True)
    assert out['predictions'][0].ori_shape == (48, 80)


def test_classification_inference_on_degenerate_images(tmp_path):
    from mmengine.registry import init_default_scope
    from mmpretrain.apis import ImageClassificationInferencer

    # as in a fresh process (mmdet's init_detector sets a global scope)
    init_default_scope('mmpretrain')
    inferencer = ImageClassificationInferencer(
        Config.fromfile(CLASSIFIER), device='cpu')
    rng = np.random.default_rng(0)
    images = [gray_png(tmp_path / 'gray.png')] + [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for h, w in ODD_SIZES
    ]
    for result in inferencer(images, batch_size=1):
        scores = result['pred_scores']
        assert scores.shape == (6, )
        assert np.isfinite(scores).all() and abs(scores.sum() - 1) < 1e-4


@pytest.mark.slow
def test_toy_detector_serves_1000_calls_without_memory_growth():
    """1,000 calls of ``inference_detector`` on random sizes (16-320 px
    per side) in one process: resident memory after the last call is
    within 32 MiB of that after the first 100 (measured: no growth). The
    test pipeline resizes to fit 64x64 instead of 320x320 (the same
    variety of shapes reaches the network, at a small part of the
    work)."""
    import psutil
    from mmdet.apis import init_detector, inference_detector

    cfg = Config.fromfile(RETINANET)
    cfg.model.backbone.init_cfg = None
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'Resize':
            step['scale'] = (64, 64)
    model = init_detector(cfg, None, device='cpu')
    rng = np.random.default_rng(0)
    process = psutil.Process()
    rss = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for call in range(1000):
            h, w = rng.integers(16, 321, 2)
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            result = inference_detector(model, img)
            assert result.ori_shape == (h, w)
            if call % 100 == 99:
                rss.append(process.memory_info().rss / 2**20)
    finally:
        torch.set_num_threads(threads)
    growth = rss[-1] - rss[0]
    print(f'RSS after calls 100..1000 (MiB): {[round(r) for r in rss]}; '
          f'growth {growth:+.1f} MiB')
    assert growth < 32, rss
