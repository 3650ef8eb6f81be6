"""End-to-end detector export (mmshuffle.deploy.detection): every detection
config is supported by its head classes, unsupported heads are refused,
and the ONNX graph (box decoding, NMS, top-K inside) gives mmdet's own
predictions in onnxruntime, for single- and two-stage detectors, at any
input size, batched, and with normalisation folded in."""
import glob
import os.path as osp

import numpy as np
import onnx
import pytest
import torch
from helpers import (LITE, TOY_DET, build_detector, load_tool,
                     make_tiny_toy_data, run_tool_in_process)
from mmengine.config import Config

import mmshuffle  # noqa: F401
from mmshuffle.deploy.detection import (DetectorForExport,
                                        UnsupportedDetectorError,
                                        check_detection_shape,
                                        compare_detections, export_detector,
                                        predict_reference, split_detections)
from mmshuffle.deploy.metadata import read_metadata
from mmshuffle.deploy.runtime import DetectionSession, load_runtime
from mmshuffle.engine.cli import parse_metrics
from mmshuffle.engine.configs import build_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RETINA = osp.join(TOY_DET, 'retinanet_shufflenet-v2-1x_fpn_toy-det.py')
FRCNN = osp.join(TOY_DET, 'faster-rcnn_shufflenet-v2-1x_fpn_toy-det.py')
SSDLITE = osp.join(TOY_DET, 'ssdlite_shufflenet-v2-1x_320_toy-det.py')
RTMDET = osp.join(TOY_DET, 'rtmdet-lite_shufflenet-v2-1x_320_toy-det.py')


def detection_configs():
    paths = sorted(
        p for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
        if '_base_' not in p)
    return [p for p in paths
            if Config.fromfile(p).get('default_scope') == 'mmdet']


@pytest.mark.parametrize('path', detection_configs(),
                         ids=lambda p: osp.basename(p)[:-3])
def test_every_detection_config_has_an_end_to_end_form(path):
    model = build_model(Config.fromfile(path), pretrained=False)
    wrapped = DetectorForExport(model)
    meta = wrapped.metadata()
    assert meta['task'] == 'detection'
    assert int(meta['size_divisor']) % 32 == 0
    assert int(meta['max_per_img']) > 0


def test_unsupported_heads_are_refused():
    cfg = Config.fromfile(LITE)
    cfg.model.bbox_head.test_cfg = None
    cfg.model.test_cfg.nms = dict(type='soft_nms', iou_threshold=0.5)
    with pytest.raises(UnsupportedDetectorError, match='soft_nms'):
        DetectorForExport(build_model(cfg, pretrained=False))
    # FCOS: centerness factors are not exported; refused at export
    cfg = Config.fromfile(LITE)
    cfg.model.bbox_head = dict(
        type='FCOSHead', num_classes=4, in_channels=96, feat_channels=96,
        stacked_convs=1, strides=[8, 16, 32, 64, 128])
    wrapped = DetectorForExport(build_model(cfg, pretrained=False))
    with pytest.raises(UnsupportedDetectorError, match='3 outputs'):
        with torch.no_grad():
            wrapped(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match='not divisible by 32'):
        check_detection_shape((320, 300), 32)


@pytest.fixture(scope='module')
def toy_images(tmp_path_factory):
    """Three normalised toy detection images of two sizes."""
    from mmcv import imread, imresize
    root = tmp_path_factory.mktemp('toy')
    make_tiny_toy_data(root, det=(2, 3, 160))
    paths = sorted(glob.glob(str(root / 'data' / 'toy_det' / 'val' / '*')))
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)
    out = []
    for path, size in zip(paths, [(160, 160), (160, 160), (128, 224)]):
        image = imresize(imread(path), size[::-1])[..., ::-1]  # BGR->RGB
        out.append(torch.from_numpy(
            ((image - mean) / std).transpose(2, 0, 1).copy()).float())
    return out


@pytest.mark.slow
@pytest.mark.parametrize('path', [LITE, RETINA, FRCNN, SSDLITE, RTMDET],
                         ids=['retinanet-lite', 'retinanet', 'faster-rcnn',
                              'ssdlite', 'rtmdet-lite'])
def test_onnx_detector_gives_mmdet_predictions(tmp_path, path, toy_images,
                                               request):
    import copy
    raw = path == LITE  # normalisation folded in for one of them
    if path == LITE:  # the shared export (raw input, dynamic batch)
        reference, _, out = request.getfixturevalue('lite_export')
    else:  # one unit per stage: the same graph, cheaper to export
        request.getfixturevalue('one_unit_stages')
        model = build_detector(path)
        reference = copy.deepcopy(model)
        out = str(tmp_path / 'det.onnx')
        export_detector(DetectorForExport(model), out, (160, 160),
                        dynamic_batch=True)
    graph = onnx.load(out).graph
    ops = {node.op_type for node in graph.node}
    assert {node.domain for node in graph.node} <= {'', 'ai.onnx'}
    assert {'NonMaxSuppression', 'TopK'} <= ops
    assert ('RoiAlign' in ops) == (path == FRCNN)
    assert 'BatchNormalization' not in ops
    assert [o.name for o in graph.output] == ['dets', 'labels']
    assert read_metadata(out)['raw_input'] == str(raw).lower()

    session = DetectionSession(load_runtime(out, 'onnxruntime', 1))
    top_k = int(read_metadata(out)['max_per_img'])
    batches = [torch.stack(toy_images[:2]), toy_images[2][None]]
    total = 0
    for batch in batches:  # batch 2 at 160x160, batch 1 at 128x224
        with torch.no_grad():
            expected = predict_reference(reference, batch)
        dets, labels = session(batch.numpy())
        assert dets.shape == (len(batch), top_k, 5)
        assert labels.shape == (len(batch), top_k)
        pad = dets[..., 4] == 0
        assert (labels[pad] == -1).all() and (dets[pad] == 0).all()
        result = compare_detections(expected, split_detections(dets, labels))
        # box for box: a cut tie may excuse a few, never most of them
        assert result['ok'] and result['matched'] >= 0.9 * max(
            result['reference'], result['outputs']), result
        total += result['reference']
    assert total > 20  # the comparison is not vacuous
    with pytest.raises(ValueError, match='not divisible by 32'):
        session(np.zeros((1, 3, 160, 150), np.float32))


# ----------------------------------------------------------------------
# the tools, on a briefly trained toy Faster R-CNN
# ----------------------------------------------------------------------
def run(tool, *args, cwd):
    import subprocess
    import sys
    return subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', *tool.split('/')),
         *map(str, args)], cwd=cwd, capture_output=True, text=True)


TRAIN_CFG = '''_base_ = [{base!r}]
model = dict(backbone=dict(init_cfg=None))
train_cfg = dict(max_epochs=1, val_interval=10)
param_scheduler = []
train_dataloader = dict(num_workers=0, batch_size=4)
val_dataloader = dict(num_workers=0, batch_size=2)
test_dataloader = dict(num_workers=0, batch_size=2)
default_hooks = dict(logger=dict(interval=1))
'''


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A toy Faster R-CNN trained for two iterations with tools/train.py,
    its config and checkpoint, and its export (tools/pytorch2onnx.py)."""
    root = tmp_path_factory.mktemp('trained')
    make_tiny_toy_data(root, det=(8, 6, 320))
    cfg = root / 'frcnn.py'
    cfg.write_text(TRAIN_CFG.format(base=FRCNN))
    proc = run('train.py', cfg, '--work-dir', root / 'wd', cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = root / 'wd' / 'epoch_1.pth'
    # the exporter in this process (its entry point runs as a process in
    # test_onnx.py): the process start and imports are paid once
    import contextlib
    import io
    import os
    tool = load_tool(osp.join(ROOT, 'tools', 'deployment',
                              'pytorch2onnx.py'))
    out, here = io.StringIO(), os.getcwd()
    os.chdir(root)
    try:
        with contextlib.redirect_stdout(out):
            tool.main([str(cfg), str(ckpt), '--out', str(root / 'frcnn.onnx'),
                       '--check-images', '3'])
    finally:
        os.chdir(here)
    assert 'checked on 3 test image(s)' in out.getvalue()
    assert ' 0 PyTorch detections' not in out.getvalue()
    return root, cfg, ckpt, root / 'frcnn.onnx'


@pytest.mark.slow
def test_onnx_detector_evaluates_like_pytorch(trained, capsys,
                                             monkeypatch):
    """tools/deployment/test_onnx.py (onnxruntime and OpenVINO f32) gives
    tools/test.py's COCO metrics within 0.005 and the same boxes (the
    tools in this process: the trained fixture ran train.py and the
    exporter as processes)."""
    import pickle
    root, cfg, ckpt, onnx_path = trained
    monkeypatch.chdir(root)
    monkeypatch.setenv('LOCAL_RANK', '0')  # what test.py would set
    threads = torch.get_num_threads()
    runs = {}
    for name, tool, args in (
            ('torch', 'test.py', (cfg, ckpt, '--work-dir', root / 'wt')),
            ('onnxruntime', 'deployment/test_onnx.py', (cfg, onnx_path)),
            ('openvino', 'deployment/test_onnx.py',
             (cfg, onnx_path, '--backend', 'openvino'))):
        out = root / f'{name}.pkl'
        code, stdout, err = run_tool_in_process(
            osp.join(ROOT, 'tools', *tool.split('/')), [*args, '--out', out],
            capsys)
        torch.set_num_threads(threads)
        assert code == 0, err[-2000:]
        with open(out, 'rb') as f:  # written by this test: trusted
            runs[name] = (parse_metrics(stdout), pickle.load(f))
        if name == 'openvino':
            assert 'with openvino (f32' in stdout
    reference, torch_preds = runs.pop('torch')
    total = sum(len(p['pred_instances']['scores']) for p in torch_preds)
    assert total > 50  # the comparison is not vacuous
    for name, (metrics, preds) in runs.items():
        for key, value in reference.items():
            assert abs(metrics[key] - value) <= 0.005, (name, key)
        assert len(preds) == len(torch_preds) == 6
        ref = [dict(bboxes=p['pred_instances']['bboxes'].numpy(),
                    scores=p['pred_instances']['scores'].numpy(),
                    labels=p['pred_instances']['labels'].numpy())
               for p in torch_preds]
        out = [dict(bboxes=p['pred_instances']['bboxes'].numpy(),
                    scores=p['pred_instances']['scores'].numpy(),
                    labels=p['pred_instances']['labels'].numpy())
               for p in preds]
        # a model trained for two iterations scores most boxes alike (to
        # 1e-5): rounding then decides some RPN proposals and top-K cuts,
        # so a few boxes differ; the graph itself is checked box for box
        # on a confident model in test_onnx_detector_gives_mmdet_predictions
        result = compare_detections(ref, out)
        assert result['matched'] >= 0.9 * total, (name, result)


@pytest.mark.slow
def test_tools_refuse_bad_input(trained, tmp_path, capsys, monkeypatch):
    root, cfg, ckpt, onnx_path = trained
    cls_cfg = osp.join(ROOT, 'configs', 'toy',
                       'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
    fcos = tmp_path / 'fcos.py'
    fcos.write_text(
        f'_base_ = [{LITE!r}]\nmodel = dict(backbone=dict(init_cfg=None), '
        "bbox_head=dict(_delete_=True, type='FCOSHead', num_classes=4, "
        'in_channels=96, feat_channels=96, stacked_convs=1, '
        'strides=[8, 16, 32, 64, 128]))\n')
    fcos_ckpt = tmp_path / 'fcos.pth'
    torch.save({'state_dict': build_model(Config.fromfile(str(fcos)),
                                          False).state_dict()}, fcos_ckpt)
    out = tmp_path / 'x.onnx'
    cases = [
        ('deployment/pytorch2onnx.py', (fcos, fcos_ckpt, '--out', out),
         'cannot export'),
        ('deployment/pytorch2onnx.py', (cfg, ckpt, '--out', out, '--shape',
                                        100), 'not divisible by 32'),
        ('deployment/pytorch2onnx.py', (LITE, ckpt, '--out', out),
         'does not fit'),
        ('deployment/test_onnx.py', (cls_cfg, onnx_path), 'is a detector'),
        ('deployment/test_onnx.py', (cfg, onnx_path, '--backend',
                                     'onnxruntime', '--threads', -1),
         '--threads'),
    ]
    monkeypatch.chdir(root)
    for tool, args, message in cases:
        code, _, err = run_tool_in_process(
            osp.join(ROOT, 'tools', *tool.split('/')), args, capsys)
        assert code == 2, (args, err[-2000:])
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('error:'), (
            args, err[-2000:])
        assert message in lines[0], (args, lines[0])
    assert not out.exists()


def padded_pair(toy_images):
    """Two images of different aspect ratios (160 x 160 and 128 x 224)
    padded into one batch as the data preprocessor pads (0 after
    normalisation), and mmdet's samples for it (each image's own
    ``img_shape``, the batch's ``batch_input_shape``)."""
    from mmdet.structures import DetDataSample
    first, second = toy_images[0], toy_images[2]
    batch = torch.zeros(2, 3, 160, 224)
    batch[0, :, :160, :160] = first
    batch[1, :, :128, :224] = second
    samples = [
        DetDataSample(metainfo=dict(img_shape=hw, ori_shape=hw,
                                    pad_shape=(160, 224),
                                    batch_input_shape=(160, 224),
                                    scale_factor=(1.0, 1.0)))
        for hw in ((160, 160), (128, 224))
    ]
    return batch, samples, np.array([[160, 160], [128, 224]], np.int64)


@pytest.mark.slow
@pytest.mark.parametrize('path', [LITE, FRCNN],
                         ids=['retinanet-lite', 'faster-rcnn'])
def test_padded_batch_is_clipped_per_image_as_mmdet_does(
        path, tmp_path, toy_images, request):
    """A padded batch of two images of different aspect ratios gives
    mmdet's own predictions box for box: a graph exported with the
    image_hw input clips each image's boxes to its size before NMS; a
    graph without it runs each image alone on its own padded crop, and
    gives mmdet's predictions of each image alone."""
    import copy
    batch, samples, image_hw = padded_pair(toy_images)
    # RetinaNet-lite: the shared export's model, to check that file too
    if path == LITE:
        model = copy.deepcopy(request.getfixturevalue('lite_export')[0])
    else:
        request.getfixturevalue('one_unit_stages')
        model = build_detector(path)
    with torch.no_grad():
        results = copy.deepcopy(model).predict(batch, samples, rescale=False)
    expected = [dict(bboxes=r.pred_instances.bboxes.numpy(),
                     scores=r.pred_instances.scores.numpy(),
                     labels=r.pred_instances.labels.numpy())
                for r in results]
    # the second image's boxes stay in its 128 rows, not the batch's 160
    assert expected[1]['bboxes'][:, 3].max() <= 128
    out = str(tmp_path / 'det.onnx')
    export_detector(DetectorForExport(model, image_hw_input=True), out,
                    (160, 160), dynamic_batch=True)
    runtime = load_runtime(out, 'onnxruntime', 1)
    assert runtime.input_names == ['input', 'image_hw']
    assert read_metadata(out)['image_hw_input'] == 'true'
    sessions = {'image_hw': DetectionSession(runtime)}
    if path == LITE:  # the shared export has no image_hw input
        sessions['crops'] = DetectionSession(load_runtime(
            request.getfixturevalue('lite_export')[2], 'onnxruntime', 1))
        assert not sessions['crops'].takes_image_hw
    # the crops: each image alone, as a batch of one (padding changes
    # the features near it, so a batch of one is not the padded batch)
    alone = [predict_reference(copy.deepcopy(model), batch[i:i + 1, :, :h,
                                                           :w])[0]
             for i, (h, w) in enumerate(image_hw)]
    for name, session in sessions.items():
        found = split_detections(*session(batch.numpy(), image_hw))
        result = compare_detections(expected if name == 'image_hw' else
                                    alone, found)
        assert result['ok'] and result['matched'] > 20, (name, result)
    # without the sizes the boxes reach into the padding: not mmdet's
    found = split_detections(*sessions['image_hw'](batch.numpy()))
    assert found[1]['bboxes'][:, 3].max() > 128


@pytest.mark.slow
def test_export_check_cannot_pass_vacuously(tmp_path, capsys, monkeypatch,
                                            one_unit_stages):
    """pytorch2onnx.py's check: without the config's test set it stops
    before writing anything (no random pixels); --check-images DIR checks
    on the user's images and says how many boxes matched; a check where
    neither side found a box fails. (The toy RetinaNet-lite with one unit
    per ShuffleNetV2 stage: the tool builds the same, in this process.)"""
    ckpt = tmp_path / 'lite.pth'
    torch.save({'state_dict': build_detector(LITE).state_dict()}, ckpt)
    tool = osp.join(ROOT, 'tools', 'deployment', 'pytorch2onnx.py')
    monkeypatch.chdir(tmp_path)
    out = tmp_path / 'lite.onnx'
    code, _, err = run_tool_in_process(tool, [LITE, ckpt, '--out', out],
                                       capsys)
    assert code == 2 and "cannot read the config's test set" in err, err
    assert '--check-images DIR' in err and not out.exists()
    code, _, err = run_tool_in_process(
        tool, [LITE, ckpt, '--out', out, '--check-images', 'nowhere'], capsys)
    assert code == 2 and 'no such folder' in err, err
    make_tiny_toy_data(tmp_path / 'mine', det=(1, 2, 160))
    folder = tmp_path / 'mine' / 'data' / 'toy_det' / 'val'
    code, stdout, err = run_tool_in_process(
        tool, [LITE, ckpt, '--out', out, '--check-images', folder], capsys)
    assert code == 0, err[-2000:]
    line = [ln for ln in stdout.splitlines() if ln.startswith('checked')][0]
    assert line.startswith(f'checked on 2 image(s) of {folder}:'), line
    found = int(line.split(': ')[1].split()[0])
    assert found > 20 and f'{found} matched' in line, line
    code, _, err = run_tool_in_process(
        tool, [LITE, ckpt, '--out', out, '--check-images', folder,
               '--cfg-options', 'model.test_cfg.score_thr=1.0'], capsys)
    assert code == 1 and 'nothing was compared' in err, err


def test_the_exporters_comparison_excuses_only_real_cut_ties():
    """With the cut given (the exporter's check), a box the other side has
    no twin for is not excused by being its own side's lowest: an output
    that found nothing, or only boxes elsewhere, fails; boxes at the score
    threshold and at the other side's full top-K cut are ties."""
    def dets(boxes, scores, labels=None):
        return dict(bboxes=np.array(boxes, np.float32).reshape(-1, 4),
                    scores=np.array(scores, np.float32),
                    labels=np.array(labels or [0] * len(scores), np.int64))

    ref = [dets([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8])]
    cut = (0.05, 100)
    for out in ([dets([], [])],
                [dets([[50, 50, 60, 60], [70, 70, 80, 80]], [0.9, 0.8])]):
        result = compare_detections(ref, out, cut=cut)
        assert not result['ok'] and result['matched'] == 0, result
    near_thr = [dets([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.05])]
    assert compare_detections(near_thr, [dets([[0, 0, 10, 10]], [0.9])],
                              cut=cut)['ok']
    full = [dets([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.5])]
    other = [dets([[0, 0, 10, 10], [40, 40, 50, 50]], [0.9, 0.5])]
    assert compare_detections(full, other, cut=(0.05, 2))['ok']
    assert not compare_detections(full, other, cut=(0.05, 3))['ok']
