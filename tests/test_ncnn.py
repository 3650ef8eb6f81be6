"""ncnn models through pnnx: tools/deployment/export.py --format ncnn for a
classifier and a detector, run by test_onnx.py / infer.py --backend ncnn;
a detector's host-side decoding (numpy) equals the in-graph one for
anchors and points, sigmoid and softmax heads; bad input is one line.

The networks are the toy configs' with ShuffleNetV2 cut to one unit per
stage (the conversion path is the same for any depth)."""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from helpers import (CLASSES, LITE, SMALL_LITE_OPTIONS, TOY_DET,
                     build_detector, make_tiny_toy_data, run_tool_in_process,
                     small_lite_checkpoint, toy_val_batch)

from mmshuffle.analysis.bench.detectors import zero_score_threshold
from mmshuffle.deploy.detection import (DetectorForExport,
                                        compare_detections,
                                        split_detections)
from mmshuffle.deploy.detection.host import host_candidates, host_nms
from mmshuffle.deploy.ncnn import NcnnExportError, write_ncnn
from mmshuffle.deploy.runtime import (ClassificationSession,
                                      DetectionSession, load_runtime)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
EXPORT = osp.join(ROOT, 'tools', 'deployment', 'export.py')
TEST_ONNX = osp.join(ROOT, 'tools', 'deployment', 'test_onnx.py')
INFER = osp.join(ROOT, 'tools', 'infer.py')
CLS = osp.join(TOY_DET, 'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')


@pytest.mark.parametrize('config', [
    'retinanet-lite_shufflenet-v2-1x_lite-fpn_toy-det.py',  # anchors, sigmoid
    'ssdlite_shufflenet-v2-1x_320_toy-det.py',  # SSD anchors, softmax
    'rtmdet-lite_shufflenet-v2-1x_320_toy-det.py',  # points, distances
])
def test_host_decoding_equals_the_graph(config, one_unit_stages):
    torch.manual_seed(0)
    model = build_detector(osp.join(TOY_DET, config))
    zero_score_threshold(model)  # every candidate counts
    graph = DetectorForExport(model, nms='host')
    host = DetectorForExport(model, nms='host', decode='host')
    meta = host.metadata()
    assert meta['decode'] == 'host'
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        candidates = [t.numpy() for t in graph(x)]
        maps = [t.numpy() for t in host(x)]
    boxes, scores, labels = host_candidates(maps, meta)
    for have, want in zip(scores, candidates[1]):  # the graph pads
        np.testing.assert_allclose(np.sort(have[have > 0]),
                                   np.sort(want[want > 0]), atol=1e-6)
    want = host_nms(*candidates, meta)
    got = host_nms(boxes, scores, labels, meta)
    assert (want[1] >= 0).sum() == 2 * int(meta['max_per_img'])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], rtol=0, atol=1e-4)
    # an empty batch gives no candidates; wrong inputs are one line
    empty = host_candidates([m[:0] for m in maps], meta)
    assert [a.shape[0] for a in empty] == [0, 0, 0]
    with pytest.raises(ValueError, match="exported with decode='host'"):
        host_candidates(maps, graph.metadata())
    with pytest.raises(ValueError, match='levels but the network gave'):
        host_candidates(maps[:-1], meta)


def test_an_operator_ncnn_lacks_is_refused_in_one_line(tmp_path):
    class TopK(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1).topk(5)[0]

    path = str(tmp_path / 'topk.param')
    with pytest.raises(NcnnExportError) as err:
        write_ncnn(TopK(), torch.rand(1, 3, 8, 8), path, {}, 'TopK')
    assert str(err.value) == (
        'TopK: ncnn has no layer for torch.topk (the operators pnnx left '
        'unconverted); export it to onnx or executorch instead')
    assert os.listdir(tmp_path) == []  # nothing half-written is left


def test_a_missing_ncnn_names_the_packages(monkeypatch):
    from mmshuffle.deploy.ncnn import require_ncnn, require_pnnx
    monkeypatch.setitem(sys.modules, 'ncnn', None)
    monkeypatch.setitem(sys.modules, 'pnnx', None)
    for require in (require_ncnn, require_pnnx):
        with pytest.raises(ImportError, match=r'pip install ncnn==1\.0\.'
                           r'20261020 pnnx==20261020'):
            require()


def test_classifier_model_fp32_and_fp16(tmp_path, capsys, one_unit_stages,
                                        monkeypatch):
    from mmengine.config import Config

    from mmshuffle.engine.configs import build_model
    make_tiny_toy_data(tmp_path, cls=(1, 6, 64))
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    model = build_model(Config.fromfile(CLS), pretrained=False).eval()
    ckpt = str(tmp_path / 'cls.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    fp32, fp16 = str(tmp_path / 'cls.param'), str(tmp_path / 'half.param')
    code, out, err = run_tool_in_process(
        EXPORT, [CLS, ckpt, '--format', 'ncnn', '--shape', 64, '--out',
                 fp32], capsys)
    assert code == 0, err[-2000:]
    assert 'max |PyTorch - ncnn fp32| = ' in out
    assert osp.isfile(tmp_path / 'cls.bin')
    runtime = load_runtime(fp32, 'ncnn')
    assert runtime.metadata['task'] == 'classification'
    assert runtime.precision == 'f32'
    assert runtime.input_shapes == [[1, 3, 64, 64]]
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = model(x, mode='tensor').numpy()
    logits = ClassificationSession(runtime)(x.numpy())  # image by image
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    with pytest.raises(ValueError, match='exported for'):
        ClassificationSession(runtime)(np.zeros((1, 3, 32, 32), np.float32))
    # benchmark.py cls --paths ncnn runs the model it finds
    from mmshuffle.analysis.bench.classifiers import mobile_runner
    run = mobile_runner(None, str(tmp_path), 'cls', (64, 64), 1, 'ncnn')
    np.testing.assert_allclose(run(x), expected, atol=1e-4)
    code, out, err = run_tool_in_process(TEST_ONNX, [CLS, fp32], capsys)
    assert code == 0, err[-2000:]
    assert 'with ncnn (f32, ' in out
    assert '"accuracy/top1"' in out.splitlines()[-1]

    code, out, err = run_tool_in_process(
        EXPORT, [CLS, ckpt, '--format', 'ncnn', '--fp16', '--shape', 64,
                 '--out', fp16], capsys)
    assert code == 0, err[-2000:]
    half = load_runtime(fp16, 'ncnn')
    assert half.precision == 'fp16'
    assert osp.getsize(tmp_path / 'half.bin') < \
        0.6 * osp.getsize(tmp_path / 'cls.bin')  # fp16 weights
    np.testing.assert_allclose(ClassificationSession(half)(x.numpy()),
                               expected, atol=0.05 * np.abs(expected).max())


def test_detector_model_box_for_box(tmp_path, capsys, one_unit_stages,
                                    monkeypatch):
    make_tiny_toy_data(tmp_path, det=(1, 3, 320))
    monkeypatch.chdir(tmp_path)
    ckpt = small_lite_checkpoint(tmp_path)
    path = str(tmp_path / 'det.param')
    code, out, err = run_tool_in_process(
        EXPORT, [LITE, ckpt, '--format', 'ncnn', '--raw-input', '--out',
                 path, *SMALL_LITE_OPTIONS], capsys)
    assert code == 0, err[-2000:]
    metrics = json.loads(out.strip().splitlines()[-1].split(' ', 1)[1])
    assert metrics['check/matched'] == metrics['check/pytorch'] == \
        metrics['check/ncnn'] > 0
    runtime = load_runtime(path, 'ncnn')
    meta = runtime.metadata
    assert meta['decode'] == 'host' and meta['nms'] == 'host'
    assert meta['dynamic_hw'] == 'true'  # checked at a second size
    assert json.loads(meta['classes']) == CLASSES
    assert runtime.output_names == ['cls0', 'cls1', 'cls2', 'reg0', 'reg1',
                                    'reg2']
    # any size that is a multiple of the divisor, larger than the export
    # one too; the benchmark's runner gives the same boxes
    session = DetectionSession(runtime)
    images = toy_val_batch(tmp_path)
    for size in ((256, 320), (384, 352)):
        x = np.zeros((1, 3, *size), np.float32)
        x[:, :, :images.shape[2], :images.shape[3]] = \
            images[:1, :, :size[0], :size[1]]
        dets, labels = session(x)
        assert dets.shape == (1, 100, 5) and labels.shape == (1, 100)
    from mmshuffle.analysis.bench.detectors import host_runner
    bench_dets, _ = host_runner(path, 1, 'ncnn')(torch.from_numpy(x))
    np.testing.assert_array_equal(bench_dets, dets)

    code, out, err = run_tool_in_process(
        TEST_ONNX, [LITE, path, *SMALL_LITE_OPTIONS], capsys)
    assert code == 0, err[-2000:]
    assert 'with ncnn (f32, ' in out
    assert '"coco/bbox_mAP"' in out.splitlines()[-1]
    folder = tmp_path / 'data' / 'toy_det' / 'val'
    image = folder / sorted(os.listdir(folder))[0]
    code, out, err = run_tool_in_process(
        INFER, [LITE, path, image, '--out-dir', tmp_path / 'infer'],
        capsys)  # the config gives the pipeline; the model is the file
    assert code == 0, err[-2000:]
    assert 'ncnn' in out


def test_a_graph_pnnx_fixed_to_one_size_is_padded_to_it(
        tmp_path, one_unit_stages, monkeypatch):
    # mmdet's FPN upsamples to the finer map's size, which pnnx writes
    # into the graph as a constant; without exact_upsampling the model
    # computes right at its export size only, and is marked so
    from mmshuffle.deploy.detection import export as det_export
    model = build_detector(osp.join(
        TOY_DET, 'retinanet_shufflenet-v2-1x_fpn_toy-det.py'))
    monkeypatch.setattr(det_export, 'exact_upsampling', lambda d: 0)
    path = str(tmp_path / 'fixed.param')
    det_export.export_detector_ncnn(
        DetectorForExport(model, nms='host', decode='host'), path,
        (256, 288))  # no smaller: P7 (stride 128) needs 2 cells
    runtime = load_runtime(path, 'ncnn')
    assert runtime.metadata['dynamic_hw'] == 'false'
    assert runtime.input_shapes == [[1, 3, 256, 288]]
    session = DetectionSession(runtime)
    x = torch.randn(1, 3, 224, 256)
    padded = torch.zeros(1, 3, 256, 288)
    padded[..., :224, :256] = x
    reference = DetectorForExport(model, nms='host')
    with torch.no_grad():
        want = host_nms(*[t.numpy() for t in reference(padded)],
                        reference.metadata(), np.array([[224, 256]]))
    result = compare_detections(split_detections(*want),
                                split_detections(*session(x.numpy())))
    assert result['ok'] and result['matched'] == 100, result
    with pytest.raises(ValueError, match='does not fit'):
        session(np.zeros((1, 3, 288, 288), np.float32))


def test_the_benchmark_skips_a_model_ncnn_refuses(tmp_path):
    """ShuffleNetV2+'s channel split takes every other channel (a strided
    slice), which pnnx leaves unconverted: benchmark.py cls logs why the
    model has no ncnn row and measures the rest."""
    from mmshuffle.analysis.bench.classifiers import build_paths
    logged = []
    built = build_paths('shufflenet-v2-plus-small', ['mmshuffle', 'ncnn'],
                        (64, 64), 1, str(tmp_path), logged.append)
    assert list(built) == ['mmshuffle']
    assert logged == [
        'shufflenet-v2-plus-small: no ncnn row: ClassifierForExport: ncnn '
        'has no layer for Tensor.slice (the operators pnnx left '
        'unconverted); export it to onnx or executorch instead']
