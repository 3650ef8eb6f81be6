"""ExecuTorch programs (XNNPACK): tools/deployment/export.py --format
executorch for a classifier and a detector, fp32 and INT8 (PT2E), run by
test_onnx.py / infer.py --backend executorch; the detector's host-side NMS
equals the in-graph one; bad input is one line.

The networks here are the toy configs' with ShuffleNetV2 cut to one unit
per stage, and the detector to three levels (lowering to XNNPACK costs
about a second per partition); the export path is the same for any
depth."""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from helpers import (CLASSES, LITE, SMALL_LITE_OPTIONS, TOY_DET,
                     make_tiny_toy_data, run_tool_in_process,
                     small_lite_checkpoint, toy_val_batch)

from mmshuffle.deploy.detection import (DetectorForExport,
                                        UnsupportedDetectorError)
from mmshuffle.deploy.detection.host import host_nms
from mmshuffle.deploy.detection.postprocess import nms_top_k
from mmshuffle.deploy.runtime import (ClassificationSession,
                                      DetectionSession, load_runtime)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
EXPORT = osp.join(ROOT, 'tools', 'deployment', 'export.py')
TEST_ONNX = osp.join(ROOT, 'tools', 'deployment', 'test_onnx.py')
CLS = osp.join(TOY_DET, 'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')


def random_candidates(seed, num=2, count=300, classes=4):
    gen = np.random.default_rng(seed)
    xy = gen.uniform(0, 200, (num, count, 2)).astype(np.float32)
    wh = gen.uniform(4, 60, (num, count, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], -1)
    scores = gen.uniform(0, 1, (num, count)).astype(np.float32)
    scores[scores < 0.3] = 0  # below the threshold, as the program gives
    labels = gen.integers(0, classes, (num, count))
    return boxes, scores, labels


@pytest.mark.parametrize('agnostic', [False, True])
def test_host_nms_equals_the_in_graph_nms(agnostic):
    boxes, scores, labels = random_candidates(int(agnostic))
    meta = dict(score_thr='0.3', iou_thr='0.5', max_per_img='50',
                min_bbox_size='-1', class_agnostic=json.dumps(agnostic))
    dets, out_labels = host_nms(boxes, scores, labels, meta)
    ref_dets, ref_labels = nms_top_k(
        torch.from_numpy(boxes), torch.from_numpy(scores),
        torch.from_numpy(labels), 0.5, 0.3, 50, agnostic)
    np.testing.assert_array_equal(out_labels, ref_labels.numpy())
    np.testing.assert_allclose(dets, ref_dets.numpy(), rtol=0, atol=1e-5)
    assert (out_labels >= 0).sum() > 50  # both images: a real comparison


def test_host_nms_clips_filters_and_pads():
    boxes = np.array([[[-5, -5, 30, 30], [10, 10, 12, 40], [50, 50, 90, 80],
                       [0, 0, 1, 1]]], np.float32)
    scores = np.array([[0.9, 0.8, 0.7, 0.0]], np.float32)
    labels = np.array([[0, 1, 2, 3]])
    meta = dict(score_thr='0.05', iou_thr='0.5', max_per_img='3',
                min_bbox_size='3')
    dets, out = host_nms(boxes, scores, labels, meta,
                         image_hw=np.array([[64, 70]]))
    # clipped to the image (70 wide, 64 high); the 2-pixel-wide box is
    # below min_bbox_size; the zero-score row is padding
    np.testing.assert_allclose(dets[0, :2], [[0, 0, 30, 30, 0.9],
                                             [50, 50, 70, 64, 0.7]])
    assert out.tolist() == [[0, 2, -1]]
    assert dets[0, 2].tolist() == [0, 0, 0, 0, 0]
    empty = host_nms(boxes, np.zeros_like(scores), labels, meta)
    assert (empty[1] == -1).all() and not empty[0].any()


def test_two_stage_detectors_are_refused_in_one_line():
    from mmengine.config import Config

    from mmshuffle.engine.configs import build_model
    cfg = Config.fromfile(osp.join(
        TOY_DET, 'faster-rcnn_shufflenet-v2-1x_fpn_toy-det.py'))
    with pytest.raises(UnsupportedDetectorError) as err:
        DetectorForExport(build_model(cfg, pretrained=False), nms='host')
    message = str(err.value)
    assert '\n' not in message
    assert message.startswith('FasterRCNN with RPNHead + StandardRoIHead: '
                              'a two-stage detector needs NMS and RoIAlign')
    with pytest.raises(ValueError, match="nms must be 'graph' or 'host'"):
        DetectorForExport(build_model(cfg, pretrained=False), nms='cpu')


def test_bad_options_are_one_line(tmp_path, capsys):
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'')
    cases = [
        (['--format', 'executorch', '--out', tmp_path / 'a.onnx'],
         '--format executorch writes a .pte file; --out must name one'),
        (['--format', 'executorch', '--dynamic-batch', '--out',
          tmp_path / 'a.pte'], '--dynamic-batch does not apply to --format '
         'executorch'),
        (['--format', 'openvino', '--out', tmp_path / 'a.onnx'],
         '--format openvino writes a .xml file'),
        (['--calib-dir', tmp_path, '--out', tmp_path / 'a.onnx'],
         '--calib-dir applies with --int8'),
        (['--int8', '--calib-images', '0', '--out', tmp_path / 'a.onnx'],
         '--calib-images must be >= 1, got 0'),
        # ncnn's (tests/test_ncnn.py)
        (['--format', 'ncnn', '--out', tmp_path / 'a.bin'],
         '--format ncnn writes a .param file; --out must name one'),
        (['--format', 'ncnn', '--int8', '--out', tmp_path / 'a.param'],
         "--int8 does not apply to --format ncnn: ncnn's INT8 needs its "
         'ncnn2table/ncnn2int8 tools'),
        (['--format', 'ncnn', '--dynamic-batch', '--out',
          tmp_path / 'a.param'],
         '--dynamic-batch does not apply to --format ncnn'),
        (['--fp16', '--out', tmp_path / 'a.onnx'],
         '--fp16 applies to --format ncnn, not onnx'),
    ]
    for args, expected in cases:
        code, _, err = run_tool_in_process(EXPORT, [CLS, ckpt, *args],
                                           capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert expected in err, err


def test_a_missing_executorch_names_the_package(monkeypatch):
    from mmshuffle.deploy.executorch import require_executorch
    monkeypatch.setitem(sys.modules, 'executorch', None)
    with pytest.raises(ImportError, match=r'pip install executorch==1\.5\.1'):
        require_executorch()


@pytest.mark.slow
def test_classifier_program_fp32_and_int8(tmp_path, capsys,
                                          one_unit_stages, monkeypatch):
    from mmengine.config import Config

    from mmshuffle.engine.configs import build_model
    make_tiny_toy_data(tmp_path, cls=(1, 6, 64))
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    model = build_model(Config.fromfile(CLS), pretrained=False).eval()
    ckpt = str(tmp_path / 'cls.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    fp32, int8 = str(tmp_path / 'cls.pte'), str(tmp_path / 'cls_int8.pte')
    code, out, err = run_tool_in_process(
        EXPORT, [CLS, ckpt, '--format', 'executorch', '--shape', 64,
                 '--out', fp32], capsys)
    assert code == 0, err[-2000:]
    assert 'max |PyTorch - ExecuTorch fp32| = ' in out
    runtime = load_runtime(fp32, 'executorch')
    assert runtime.metadata['task'] == 'classification'
    assert runtime.input_shapes == [[1, 3, 64, 64]]
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = model(x, mode='tensor').numpy()
    logits = ClassificationSession(runtime)(x.numpy())  # in pieces of 1
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    with pytest.raises(ValueError, match='exported for'):
        ClassificationSession(runtime)(np.zeros((1, 3, 32, 32), np.float32))
    # benchmark.py cls --paths executorch runs the program it finds
    from mmshuffle.analysis.bench.classifiers import mobile_runner
    run = mobile_runner(None, str(tmp_path), 'cls', (64, 64), 1)
    np.testing.assert_allclose(run(x), expected, atol=1e-4)

    code, out, err = run_tool_in_process(
        EXPORT, [CLS, ckpt, '--format', 'executorch', '--shape', 64,
                 '--int8', '--calib-images', 4, '--out', int8], capsys)
    assert code == 0, err[-2000:]
    assert 'quantized to INT8 (PT2E, XNNPACK) on 4 images of the val set ' \
        'through the test pipeline' in out
    quantized = load_runtime(int8, 'executorch')
    assert quantized.metadata['precision'] == 'int8'
    assert quantized.precision == 'int8'
    assert quantized.metadata['calibration_images'] == '4'
    assert osp.getsize(int8) < osp.getsize(fp32) / 2  # int8 weights
    # the config's test set through its pipeline and evaluator
    code, out, err = run_tool_in_process(TEST_ONNX, [CLS, int8], capsys)
    assert code == 0, err[-2000:]
    assert 'with executorch (int8, ' in out
    assert '"accuracy/top1"' in out.splitlines()[-1]


@pytest.mark.slow
def test_detector_program_box_for_box_and_int8(tmp_path, capsys,
                                               one_unit_stages,
                                               monkeypatch):
    make_tiny_toy_data(tmp_path, det=(1, 3, 320))
    monkeypatch.chdir(tmp_path)
    ckpt = small_lite_checkpoint(tmp_path)
    fp32, int8 = str(tmp_path / 'det.pte'), str(tmp_path / 'det_int8.pte')
    code, out, err = run_tool_in_process(
        EXPORT, [LITE, ckpt, '--format', 'executorch', '--raw-input',
                 '--out', fp32, *SMALL_LITE_OPTIONS], capsys)
    assert code == 0, err[-2000:]
    metrics = json.loads(out.strip().splitlines()[-1].split(' ', 1)[1])
    assert metrics['check/matched'] == metrics['check/pytorch'] == \
        metrics['check/executorch'] > 0
    runtime = load_runtime(fp32, 'executorch')
    meta = runtime.metadata
    assert meta['nms'] == 'host' and meta['dynamic_hw'] == 'true'
    assert json.loads(meta['classes']) == CLASSES
    assert runtime.output_names == ['boxes', 'scores', 'labels']
    # H and W vary up to the export size; a larger image is one line
    session = DetectionSession(runtime)
    small = np.zeros((1, 3, 256, 320), np.float32)
    dets, labels = session(small)
    assert dets.shape == (1, 100, 5) and labels.shape == (1, 100)
    with pytest.raises(ValueError, match='must be at most'):
        session(np.zeros((1, 3, 352, 320), np.float32))
    # benchmark.py det --paths executorch: host NMS included
    from mmshuffle.analysis.bench.detectors import host_runner
    bench_dets, _ = host_runner(fp32, 1)(torch.from_numpy(small))
    np.testing.assert_array_equal(bench_dets, dets)

    code, out, err = run_tool_in_process(
        TEST_ONNX, [LITE, fp32, *SMALL_LITE_OPTIONS], capsys)
    assert code == 0, err[-2000:]
    assert 'with executorch (f32, ' in out
    assert '"coco/bbox_mAP"' in out.splitlines()[-1]

    code, out, err = run_tool_in_process(
        EXPORT, [LITE, ckpt, '--format', 'executorch', '--raw-input',
                 '--int8', '--calib-images', 3, '--out', int8,
                 *SMALL_LITE_OPTIONS], capsys)
    assert code == 0, err[-2000:]
    assert 'not compared box for box' in out
    quantized = load_runtime(int8, 'executorch')
    assert quantized.metadata['precision'] == 'int8'
    assert quantized.metadata['dynamic_hw'] == 'false'
    assert quantized.input_shapes[0] == [1, 3, 320, 320]
    # a smaller image is padded to the program's one size
    int8_dets, _ = DetectionSession(quantized)(small)
    assert int8_dets.shape == (1, 100, 5)
    # on the val images it was calibrated on, the INT8 program finds the
    # fp32 program's confident boxes
    images = toy_val_batch(tmp_path)
    ref, _ = DetectionSession(runtime)(images)
    got, _ = DetectionSession(quantized)(images)
    best = []
    for want, have in zip(ref, got):  # image by image
        confident = want[want[:, 4] > 0.5]
        boxes = have[have[:, 4] > 0.3, :4]
        lt = np.maximum(confident[:, None, :2], boxes[None, :, :2])
        rb = np.minimum(confident[:, None, 2:4], boxes[None, :, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
        area = np.prod(confident[:, 2:4] - confident[:, :2], 1)[:, None] \
            + np.prod(boxes[:, 2:] - boxes[:, :2], 1)[None]
        best += list((inter / np.maximum(area - inter, 1e-6)).max(
            axis=1, initial=0))
    best = np.array(best)
    assert len(best) > 0
    assert (best > 0.7).mean() >= 0.8, best


@pytest.mark.slow
def test_int8_program_takes_the_size_asked_for(tmp_path, one_unit_stages):
    """An INT8 program has one input size: the one asked for, even where
    the dynamic fp32 export needs a larger example (SSDLite's last prior
    stride is 320, so its example is at least 640; the INT8 program once
    took that size and ran every 320 image padded to 640, 4x the work)."""
    from mmengine.config import Config

    from mmshuffle.deploy.detection.export import export_detector_pte
    from mmshuffle.engine.configs import build_model
    cfg = Config.fromfile(osp.join(TOY_DET,
                                   'ssdlite_shufflenet-v2-1x_320_toy-det.py'))
    torch.manual_seed(0)
    wrapped = DetectorForExport(build_model(cfg, pretrained=False).eval(),
                                nms='host')
    path = str(tmp_path / 'ssdlite_int8.pte')
    image = np.random.default_rng(0).standard_normal(
        (1, 3, 128, 128)).astype(np.float32)
    export_detector_pte(wrapped, path, (128, 128), calibration=[image])
    runtime = load_runtime(path, 'executorch')
    assert runtime.input_shapes[0] == [1, 3, 128, 128]
    assert json.loads(runtime.metadata['input_hw']) == [128, 128]
    dets, labels = DetectionSession(runtime)(image)
    assert dets.shape[0] == 1 and dets.shape[2] == 5
