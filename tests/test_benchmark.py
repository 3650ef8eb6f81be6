"""The speed tools measure what they say, side by side; the figures
themselves are never asserted (wall-clock time is not a test)."""
import json
import os
import os.path as osp
import subprocess
import sys

import copy

import pytest
import torch
from helpers import in_own_process, run_tool_in_process

from mmshuffle.analysis.bench.classifiers import (PATHS, RUNTIME_PATHS,
                                                  bench_classifiers,
                                                  build_arch, build_paths)
from mmshuffle.analysis.bench.training import bench_training
from mmshuffle.models.classifier import build_classifier

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark.py')


def test_rows_and_ratios_are_booked_per_path():
    # OpenVINO and INT8: test_openvino_and_int8_paths_compute_the_classifier
    paths = [p for p in PATHS if p != '+compile'
             and p not in RUNTIME_PATHS[2:]]
    rows = bench_classifiers(['shufflenet-v2-1x'], paths, threads=[1],
                             shape=(64, 64), batch=2, runs=2, warmup=1,
                             log=lambda line: None)
    assert [r['path'] for r in rows] == paths
    by_path = {r['path']: r for r in rows}
    assert by_path['torchvision']['ratio'] == 1.0
    for row in rows:
        assert row['reference'] == 'torchvision'
        assert row['median_ms'] > 0 and row['p90_ms'] >= row['median_ms']
        assert row['throughput'] > 0 and row['batch'] == 2
        assert row['ratio'] == pytest.approx(
            row['median_ms'] / by_path['torchvision']['median_ms'])


def _randomize_bn(model):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + .5)
    return model


@pytest.mark.parametrize('arch', ['shufflenet-v2-1x', 'mobilenet-v2-1x',
                                  'shufflenet-v1-1x-g3',
                                  'shufflenet-v2-plus-small'])
def test_every_path_computes_the_same_network(arch, tmp_path):
    """What each path times is the same network: torchvision's and
    mmpretrain's weights load into the mmshuffle classifier and give their
    outputs; the deploy, channels_last and onnxruntime forms give the
    mmshuffle classifier's outputs. (The onnxruntime form of one arch: the
    path is the same for all, and every backbone's ONNX form is checked
    in test_onnx.py.)"""
    from mmshuffle.converters import convert_torchvision
    exported = ('onnxruntime', ) if arch == 'shufflenet-v2-1x' else ()
    paths = [p for p in PATHS if p not in ('+compile',
                                          'torchvision onnxruntime')
             and p not in RUNTIME_PATHS[2:]  # OpenVINO, INT8: see below
             and (p not in RUNTIME_PATHS or p in exported)]
    torch.manual_seed(0)
    fns = build_paths(arch, paths, (64, 64), 1, str(tmp_path))
    ours = fns['mmshuffle']
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = ours(x)
        for path in ('+deploy', '+channels_last') + exported:
            out = fns[path](x)
            if isinstance(out, list):  # onnxruntime: one array per output
                out = torch.from_numpy(out[0])
            torch.testing.assert_close(out, expected, atol=1e-4, rtol=0,
                                       msg=path)
        others = {}
        if 'mmpretrain' in fns:
            others['mmpretrain'] = fns['mmpretrain'].classifier.state_dict()
        if 'torchvision' in fns:
            others['torchvision'] = convert_torchvision(
                _randomize_bn(fns['torchvision']).state_dict())
        for path, state in others.items():
            twin = copy.deepcopy(ours)
            twin.classifier.load_state_dict(state, strict=True)
            torch.testing.assert_close(twin(x), torch.as_tensor(
                fns[path](x)), atol=1e-4, rtol=0, msg=path)


def test_benchmark_restores_threads_random_state_and_dynamo(monkeypatch):
    import torch._dynamo
    resets = []
    real_reset = torch._dynamo.reset
    monkeypatch.setattr(torch._dynamo, 'reset',
                        lambda: resets.append(1) or real_reset())
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    bench_classifiers(['shufflenet-v2-1x'], ['mmshuffle'], threads=[3],
                      shape=(32, 32), batch=1, runs=1, warmup=0,
                      log=lambda line: None)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), state)
    assert resets == []  # nothing compiled: the caller's caches are kept


def test_flop_count_leaves_the_model_as_it_was():
    from mmshuffle.analysis import model_complexity
    model = build_classifier(dict(type='mmshuffle.ShuffleNetV2'),
                             num_classes=10)
    model.train()
    model.backbone.eval()

    def snapshot():
        return [(name, sorted(vars(m)), m.training,
                 len(m._forward_hooks), len(m._forward_pre_hooks))
                for name, m in model.named_modules()]

    before = snapshot()
    info = model_complexity(model, (64, 64))
    assert info['flops'] > 0 and info['rows']
    assert snapshot() == before


def test_head_width_comes_from_the_backbone():
    model = build_classifier(dict(type='mmshuffle.ShuffleNetV2',
                                  widen_factor=2.0))
    assert model.head.fc.in_features == 2048
    with pytest.raises(ValueError, match='channels=1024 does not match'):
        build_classifier(dict(type='mmshuffle.ShuffleNetV2',
                              widen_factor=2.0), 1024)
    with pytest.raises(TypeError, match='channels is required for '
                       'mmpretrain.ShuffleNetV2'):
        build_classifier(dict(type='mmpretrain.ShuffleNetV2'))


def test_shufflenet_v1_is_measured_against_mmpretrain():
    rows = bench_classifiers(['shufflenet-v1-1x-g3'],
                             ['torchvision', 'mmpretrain', 'mmshuffle'],
                             threads=[1], shape=(64, 64), batch=2, runs=2,
                             warmup=1, log=lambda line: None)
    # torchvision has no ShuffleNet V1: no row rather than a wrong one
    assert [r['path'] for r in rows] == ['mmpretrain', 'mmshuffle']
    assert {r['reference'] for r in rows} == {'mmpretrain'}


def test_training_throughput_rows():
    rows = bench_training(['mobilenet-v2-1x'], batch=2, shape=(64, 64),
                          steps=1, warmup=0, log=lambda line: None)
    assert [r['impl'] for r in rows] == [
        'mmshuffle', 'mmshuffle channels_last', 'mmpretrain']
    assert rows[2]['ratio'] == 1.0 and rows[0]['images_per_s'] > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match='unknown arch'):
        bench_classifiers(['resnet50'])
    with pytest.raises(ValueError, match='unknown path'):
        bench_classifiers(['shufflenet-v2-1x'], ['tensorrt'])


@pytest.mark.slow
def test_cls_tool_writes_json_and_chart_with_compile(tmp_path):
    out, png = tmp_path / 'b.json', tmp_path / 'b.png'
    proc = subprocess.run(
        [sys.executable, TOOL, 'cls', '--archs', 'shufflenet-v2-1x',
         '--paths', 'torchvision', '+channels_last', '+compile',
         'onnxruntime', '--threads', '0', '--shape', '64', '--batch',
         '2', '--runs', '2', '--warmup', '1', '--json', str(out), '--png',
         str(png)],
        cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data['mode'] == 'cls' and data['machine']['cores'] >= 1
    rows = data['results']
    # 4 paths at all cores (--threads 0; one compile, the costly part)
    assert len(rows) == 4 and {r['threads'] for r in rows} == {
        os.cpu_count()}
    assert all('compile_s' in r for r in rows if r['path'] == '+compile')
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert '+compile' in proc.stdout and 'chart:' in proc.stdout
    # the compute floor: multiply-adds at the measured sgemm peak
    floor = data['floor'][0]
    assert floor['arch'] == 'shufflenet-v2-1x' and floor['sgemm_gflops'] > 0
    assert floor['floor_ms'] == pytest.approx(
        2 * floor['mult_adds'] / floor['sgemm_gflops'] / 1e6)
    sgemm = data['sgemm_gflops_1thread']
    assert floor['sgemm_gflops'] == sgemm['peak'] == max(
        sgemm['torch'], sgemm['onnxruntime'])


def test_benchmarks_page_shows_the_recorded_run():
    """docs/benchmarks.md's latency tables are the ones rendered from the
    JSON that the documented command wrote (no hand-copied figures)."""
    from mmshuffle.analysis.report import markdown_table
    with open(osp.join(ROOT, 'docs', 'benchmarks', 'cls.json')) as f:
        data = json.load(f)
    page = open(osp.join(ROOT, 'docs', 'benchmarks.md')).read()
    for threads in data['threads']:
        assert markdown_table(data['results'], threads) in page
    with open(osp.join(ROOT, 'docs', 'benchmarks', 'train.json')) as f:
        train = json.load(f)
    for row in train['results']:
        assert (f"| {row['arch']} | {row['impl']} | "
                f"{row['images_per_s']:.1f} | {row['ratio']:.2f}x |") in page


@pytest.mark.slow
def test_benchmarks_page_complexity_table_is_measured():
    import re

    from mmengine.config import Config

    from mmshuffle.analysis import model_complexity
    from mmshuffle.deploy import switch_to_deploy
    from mmshuffle.engine.configs import build_model
    page = open(osp.join(ROOT, 'docs', 'benchmarks.md')).read()
    page = page[page.index('## Complexity'):]
    names = {
        'ShuffleNetV2 0.5x': 'shufflenet_v2/shufflenet-v2-0.5x_16xb64_in1k',
        'ShuffleNetV2 1x': 'shufflenet_v2/shufflenet-v2-1x_16xb64_in1k',
        'ShuffleNetV2 1.5x': 'shufflenet_v2/shufflenet-v2-1.5x_16xb64_in1k',
        'ShuffleNetV2 2x': 'shufflenet_v2/shufflenet-v2-2x_16xb64_in1k',
        'ShuffleNetV1 1x g3': 'shufflenet_v1/shufflenet-v1-1x-g3_16xb64_in1k',
        'MobileNetV2 1x': 'mobilenet_v2/mobilenet-v2-1x_8xb32_in1k',
    }
    for label, config in names.items():
        row = re.search(rf'^\| {re.escape(label)} \| (.*) \|$', page, re.M)
        assert row, label
        cfg = Config.fromfile(osp.join(ROOT, 'configs', config + '.py'))
        info = model_complexity(build_model(cfg))
        deployed = model_complexity(switch_to_deploy(build_model(cfg)))
        expected = [f'{info["params"]:,}', f'{info["flops"] / 1e6:.1f}',
                    f'{info["mac"] / 1e6:.2f}',
                    f'{deployed["mac"] / 1e6:.2f}']
        assert [c.strip() for c in row.group(1).split('|')] == expected


def _recorded(name):
    with open(osp.join(ROOT, 'docs', 'benchmarks', name)) as f:
        return json.load(f)


def test_benchmarks_page_targets_and_compute_floor_are_the_recorded_run():
    """The targets table and the compute floor (sgemm figures and table)
    of docs/benchmarks.md are rendered from the recorded cls run."""
    from mmshuffle.analysis.report import floor_section, targets_table
    data = _recorded('cls.json')
    page = open(osp.join(ROOT, 'docs', 'benchmarks.md')).read()
    assert targets_table(data) in page
    assert floor_section(data) in page


def test_benchmarks_summary_figures_are_the_recorded_runs():
    """The summary of docs/benchmarks.md (classifier latencies and training
    ratios) gives the figures of the recorded cls and train runs."""
    cls, train = _recorded('cls.json'), _recorded('train.json')
    summary = ' '.join(
        open(osp.join(ROOT, 'docs', 'benchmarks.md')).read().split())

    def row(path):
        return [r for r in cls['results'] if r['threads'] == 1
                and r['arch'] == 'shufflenet-v2-1x' and r['path'] == path][0]

    compiled, ort = row('+compile'), row('onnxruntime')
    assert (f'torchvision eager {row("torchvision")["median_ms"]:.2f} ms; '
            f'mmshuffle compiled {compiled["median_ms"]:.2f} ms '
            f'({compiled["ratio"]:.2f}x), in onnxruntime '
            f'{ort["median_ms"]:.2f} ms ({ort["ratio"]:.2f}x)') in summary
    ratios = [r['ratio'] for r in train['results']
              if r['impl'] == 'mmshuffle channels_last']
    assert (f'train on CPU {min(ratios):.1f}x-{max(ratios):.1f}x as fast '
            "as mmpretrain's") in summary


def test_detector_figures_are_the_recorded_run():
    """docs/detection.md's latency table is rendered from the recorded
    det run, the page shows the command that wrote it, and its ratio
    ranges are that run's."""
    from mmshuffle.analysis.report import (detector_ratio_range,
                                           detector_table)
    data = _recorded('det.json')
    assert data['mode'] == 'det' and data['machine']['cores'] >= 1
    page = open(osp.join(ROOT, 'docs', 'detection.md')).read()
    assert detector_table(data) in page
    threads = data['threads']
    threads = ' '.join(map(str, threads)) if isinstance(threads, list) \
        else threads
    command = ('python tools/analysis_tools/benchmark.py det --sizes '
               + ' '.join(map(str, data['sizes']))
               + f" --threads {threads} --runs {data['runs']} "
               f"--warmup {data['warmup']} --json docs/benchmarks/det.json")
    assert command in page
    text = ' '.join(page.split())
    assert (f"({data['runs']} timed calls each after {data['warmup']} "
            'warm-up calls)') in text
    loads = [data['load_average_before'][0], data['load_average_after'][0]]
    assert (f'(load average {min(loads):.1f} to {max(loads):.1f}, '
            'recorded in the JSON)') in text
    size = max(data['sizes'])
    assert (f'at {size}x{size} takes '
            f'{detector_ratio_range(data, True, size)} of mmdet\'s '
            'RetinaNet-ResNet18-FPN (the stock RetinaNet on these '
            f'backbones: {detector_ratio_range(data, False, size)})'
            ) in text


@pytest.mark.slow
def test_det_tool_writes_json(tmp_path):
    out = tmp_path / 'det.json'
    proc = subprocess.run(
        [sys.executable, TOOL, 'det', '--sizes', '64', '--runs', '1',
         '--warmup', '0', '--json', str(out)],
        cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert (data['mode'], data['sizes'], data['runs'], data['threads']) == (
        'det', [64], 1, [1])
    rows = data['results']
    # the reference, then RetinaNet, RetinaNet-lite, SSDLite, RTMDet-lite,
    # Faster R-CNN and Light-Head R-CNN on the three backbones
    assert [r['model'] for r in rows[1:]] == data['models']
    families = [r['model'].split('_')[0] for r in rows[1:]]
    assert sorted(set(families)) == [
        'faster-rcnn', 'light-head-rcnn', 'retinanet', 'retinanet-lite',
        'rtmdet-lite', 'ssdlite']
    assert all(families.count(f) == 3 for f in set(families))
    assert {r['path'] for r in rows} == {'forward'}  # the default
    assert [r['reference'] for r in rows] == [True] + [False] * 18
    assert rows[0]['ratio'] == 1.0 and rows[0]['model'] == \
        'retinanet_r18_fpn_1x_coco'
    for row in rows:
        assert row['ratio'] == pytest.approx(
            row['median_ms'] / rows[0]['median_ms'])
        assert row['cpu_ratio'] == pytest.approx(
            row['cpu_median_ms'] / rows[0]['cpu_median_ms'])
        assert row['p90_ms'] >= row['median_ms'] > 0
        assert row['cpu_p90_ms'] >= row['cpu_median_ms'] > 0
        assert row['params'] > 0 and row['runs'] == 1
    assert len(data['load_average_before']) == 3
    assert len(data['load_average_after']) == 3
    bad = subprocess.run(
        [sys.executable, TOOL, 'det', '--sizes', '16'], cwd=tmp_path,
        capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        'error: --sizes must be multiples of 32 (>= 32), got 16']


# ----------------------------------------------------------------------
# runtimes: OpenVINO, INT8, detectors end to end
# ----------------------------------------------------------------------
@in_own_process
def test_openvino_and_int8_paths_compute_the_classifier(tmp_path):
    """OpenVINO runs the export in f32 and gives PyTorch's logits; the
    INT8 twins (calibrated on seeded random inputs) stay close to them."""
    torch.manual_seed(0)
    fns = build_paths('shufflenet-v2-1x', ['mmshuffle', 'openvino',
                                           'onnxruntime int8',
                                           'openvino int8'], (64, 64), 1,
                      str(tmp_path))
    assert fns['openvino'].precision == 'f32'
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = fns['mmshuffle'](x)
    out = torch.from_numpy(fns['openvino'](x)[0])
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)
    scale = expected.abs().max().item()
    for path in ('onnxruntime int8', 'openvino int8'):
        out = torch.from_numpy(fns[path](x)[0])
        assert out.shape == expected.shape
        # stated tolerance of the INT8 paths: 10% of the logits' range
        assert (out - expected).abs().max().item() <= 0.1 * scale, path
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'mmshuffle_shufflenet-v2-1x.onnx',
        'mmshuffle_shufflenet-v2-1x_int8.onnx']


def test_shufflenet_v2_plus_is_the_authors_classifier_against_v2():
    """ShuffleNetV2+ is measured as its config builds it (SE neck,
    bias-free head), without a torchvision or mmpretrain row, its ratio
    against ShuffleNetV2 1x torchvision eager of the same run."""
    from mmengine.config import Config

    from mmshuffle.engine.configs import build_model
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'shufflenet_v2_plus',
        'shufflenet-v2-plus-small_megvii-in1k.py'))
    ours = build_arch('shufflenet-v2-plus-small')
    assert [type(m).__name__ for m in (ours.neck, ours.head)] == [
        'GlobalAveragePoolingSE', 'BiasFreeClsHead']
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in build_model(cfg, pretrained=False).parameters())
    rows = bench_classifiers(['shufflenet-v2-1x', 'shufflenet-v2-plus-small'],
                             ['torchvision', 'mmpretrain', 'mmshuffle'],
                             threads=[1], shape=(64, 64), batch=2, runs=1,
                             warmup=0, log=lambda line: None)
    ref = rows[0]
    assert (ref['arch'], ref['path']) == ('shufflenet-v2-1x', 'torchvision')
    plus = [r for r in rows if r['arch'] == 'shufflenet-v2-plus-small']
    assert [r['path'] for r in plus] == ['mmshuffle']
    assert plus[0]['reference'] == 'shufflenet-v2-1x torchvision'
    assert plus[0]['ratio'] == pytest.approx(
        plus[0]['median_ms'] / ref['median_ms'])
    with pytest.raises(ValueError, match='no mmpretrain model to train'):
        bench_training(['shufflenet-v2-plus-small'])


@pytest.mark.slow
@in_own_process
def test_detector_runtimes_give_the_predict_paths_boxes(tmp_path,
                                                        one_unit_stages):
    """What the end-to-end det paths time: mmdet's predict path (NMS
    included), and the exported graph in onnxruntime and OpenVINO (f32)
    giving the same boxes; the INT8 graph gives boxes of the same form
    whose top scores stay near (one unit per ShuffleNetV2 stage: the same
    paths, cheaper exports)."""
    import numpy as np
    from mmengine.config import Config

    from mmshuffle.analysis.bench.detectors import (bench_detectors,
                                                    count_detections,
                                                    detector_runners,
                                                    export_detector_files)
    from mmshuffle.deploy.detection import (compare_detections,
                                            predict_reference,
                                            split_detections)
    from test_detector_export import build_detector
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'retinanet',
        'retinanet-lite_shufflenet-v2-1x_lite-fpn_1x_coco.py'))
    cfg.model.backbone.init_cfg = None
    # confident random weights: scores differ clearly between boxes, so
    # that NMS has no ties to break differently
    model = build_detector(None, cfg)
    files = export_detector_files(model, str(tmp_path), 'lite', (64, 64),
                                  int8=True)
    fns = detector_runners(model, files, ['pytorch', 'onnxruntime',
                                          'openvino', 'onnxruntime int8',
                                          'openvino int8'], 1)
    assert fns['openvino'].precision == 'f32'
    x = torch.randn(1, 3, 64, 96)
    reference = predict_reference(model, x)
    eager = fns['pytorch'](x)
    assert count_detections('pytorch', eager) == len(reference[0]['scores'])
    assert np.allclose(eager[0].pred_instances.bboxes.numpy(),
                       reference[0]['bboxes'])
    for path in ('onnxruntime', 'openvino'):
        out = split_detections(*fns[path](x))
        check = compare_detections(reference, out, box_tol=0.05,
                                   score_tol=1e-4)
        assert check['ok'] and check['matched'] > 0, (path, check)
    for path in ('onnxruntime int8', 'openvino int8'):
        dets, labels = fns[path](x)
        assert dets.shape[:2] == labels.shape and dets.shape[2] == 5
        top = np.sort(dets[0, :, 4])[::-1][:10]
        # 7-bit weights keep x86 without VNNI from saturating (8-bit ones
        # moved these scores by 0.07 on an AVX2 AMD EPYC)
        assert np.abs(top - reference[0]['scores'][:10]).max() < 0.05, path
    # the reference runs the PyTorch paths only; ratios per path kind
    rows = bench_detectors({'ref': model, 'lite': model}, 'ref',
                           ['forward', 'pytorch', 'onnxruntime'], [1],
                           [64], runs=1, warmup=0, log=lambda line: None)
    assert [(r['model'], r['path']) for r in rows] == [
        ('ref', 'forward'), ('ref', 'pytorch'), ('lite', 'forward'),
        ('lite', 'pytorch'), ('lite', 'onnxruntime')]
    by = {(r['model'], r['path']): r for r in rows}
    ort = by['lite', 'onnxruntime']
    assert ort['cpu_ratio'] == pytest.approx(
        ort['cpu_median_ms'] / by['ref', 'pytorch']['cpu_median_ms'])
    assert ort['eager_ratio'] == pytest.approx(
        ort['median_ms'] / by['lite', 'pytorch']['median_ms'])
    assert by['ref', 'forward']['ratio'] == 1.0
    assert 'eager_ratio' not in by['lite', 'forward']
    assert ort['precision'] == 'f32' and ort['detections'] > 0


def test_onnxruntime_profile_sums_kernel_time_per_operator(tmp_path):
    from mmshuffle.analysis.bench.profile import ort_op_profile
    from mmshuffle.analysis.bench.runners import export_once
    from mmshuffle.analysis.bench.timing import random_inputs
    from mmshuffle.deploy.onnx import ClassifierForExport
    torch.manual_seed(0)
    path = export_once(ClassifierForExport(build_arch('shufflenet-v2-1x'))
                       .eval(), str(tmp_path), 'v2', (64, 64))
    prof = ort_op_profile(path, random_inputs((64, 64), 1)[0],
                          runs=2, top=3)
    ops = [o['op'] for o in prof['ops']]
    assert ops[0] == 'Conv' and ops[-1] == 'other' and len(ops) == 4
    assert sum(o['share'] for o in prof['ops']) == pytest.approx(1.0)
    assert sum(o['ms'] for o in prof['ops']) == pytest.approx(
        prof['total_ms'])
    import onnx
    convs = sum(n.op_type == 'Conv' for n in onnx.load(path).graph.node)
    # every convolution of the graph ran, as Conv or (with its activation
    # fused by onnxruntime) as FusedConv
    every = ort_op_profile(path, random_inputs((64, 64), 1)[0],
                           runs=1, top=100)
    assert sum(o['nodes'] for o in every['ops']
               if o['op'] in ('Conv', 'FusedConv')) == convs


@pytest.mark.parametrize('argv, message', [
    (['det', '--paths', 'tensorrt'], "error: argument --paths: invalid "
     "choice: 'tensorrt'"),
    (['det', '--threads', '-1'], 'error: --threads must be >= 0 (0 = all '
     'cores), got -1'),
    (['det', '--nms-pre', '0'], 'error: --nms-pre must be >= 1, got 0'),
    (['det', '--toy', '--models', 'ssdlite_shufflenet-v2-1x_320_coco'],
     'error: --models ssdlite_shufflenet-v2-1x_320_coco is not in the toy '
     'set; choose from'),
])
def test_bad_options_give_one_line_and_exit_2(argv, message, capsys):
    code, _, err = run_tool_in_process(TOOL, argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), err


def _det_command(data, threads, options, name):
    """The ``benchmark.py det`` command line of a recorded run."""
    paths = ' '.join(f"'{p}'" if ' ' in p else p for p in data['paths'])
    return ('python tools/analysis_tools/benchmark.py det --models '
            f'{" ".join(data["models"])} --paths {paths} --sizes '
            f'{" ".join(map(str, data["sizes"]))} --threads {threads} '
            f'--runs {data["runs"]} --warmup {data["warmup"]} {options} '
            f'--json docs/benchmarks/{name}')


def test_benchmarks_page_runtime_sections_are_the_recorded_runs():
    """docs/benchmarks.md's OpenVINO/INT8 classifier tables, targets and
    profiles and its end-to-end detector tables, target and profiles are
    rendered from the recorded runs, whose commands the page shows."""
    from mmshuffle.analysis.report import (e2e_table, e2e_targets_table,
                                           floor_section, profile_table,
                                           runtime_table,
                                           runtime_targets_table)
    page = open(osp.join(ROOT, 'docs', 'benchmarks.md')).read()
    text = ' '.join(page.split())
    cls = _recorded('cls_runtimes.json')
    for threads in cls['threads']:
        assert runtime_table(cls['results'], threads) in page
    assert runtime_targets_table(cls) in page
    assert floor_section(cls) in page
    for prof in cls['profiles']:
        assert profile_table(prof) in page
    det = _recorded('det_e2e.json')
    for threads in det['threads']:
        assert e2e_table(det, threads) in page
    assert e2e_targets_table(
        det, 'retinanet-lite_shufflenet-v2-1x_lite-fpn_1x_coco') in page
    for prof in det['profiles']:
        assert profile_table(prof) in page
    for data, name in ((cls, 'cls_runtimes'), (det, 'det_e2e')):
        loads = [data['load_average_before'][0],
                 data['load_average_after'][0]]
        assert (f'load average {min(loads):.1f} to {max(loads):.1f}'
                ) in text, name
    # the phone runtimes: the classifier's and RTMDet-lite's targets, the
    # distance to the compute floor per runtime, the deployment matrix's
    # latency
    from mmshuffle.analysis.phone_report import (e2e_phone_targets_table,
                                                 floor_by_runtime,
                                                 latency_matrix,
                                                 phone_targets_table)
    assert phone_targets_table(cls) in page
    assert floor_by_runtime(cls) in page
    assert e2e_phone_targets_table(
        det, 'rtmdet-lite_shufflenet-v2-1x_320_coco') in page
    # RTMDet-lite with its candidates capped, every path side by side
    capped = _recorded('det_e2e_nms_pre.json')
    assert capped['nms_pre'] == 1000 and capped['threads'] == [1]
    # every end-to-end row timed an NMS with candidates to work on
    for data in (det, capped):
        assert all(r['detections'] > 0 for r in data['results']
                   if r['path'] != 'forward'), data['paths']
    assert e2e_table(capped, 1) in page
    assert e2e_phone_targets_table(
        capped, 'rtmdet-lite_shufflenet-v2-1x_320_coco') in page
    assert _det_command(capped, '1', '--nms-pre 1000',
                        'det_e2e_nms_pre.json') in text
    assert latency_matrix(cls, det) in open(
        osp.join(ROOT, 'docs', 'deployment.md')).read()
    assert _det_command(det, '1 0', '--profile', 'det_e2e.json') in text
    archs = ' '.join(dict.fromkeys(r['arch'] for r in cls['results']))
    paths = ' '.join(f"'{p}'" if ' ' in p else p
                     for p in dict.fromkeys(r['path']
                                            for r in cls['results']))
    assert ('python tools/analysis_tools/benchmark.py cls --archs '
            f'{archs} --paths {paths} --threads 1 0 --runs {cls["runs"]} '
            f'--warmup {cls["warmup"]} --profile --json '
            'docs/benchmarks/cls_runtimes.json') in text


@pytest.mark.parametrize('name', [
    'retinanet_shufflenet-v2-1x_fpn_toy-det',
    'retinanet-lite_shufflenet-v2-1x_lite-fpn_toy-det',
    'ssdlite_shufflenet-v2-1x_320_toy-det',
    'rtmdet-lite_shufflenet-v2-1x_320_toy-det',
    'faster-rcnn_shufflenet-v2-1x_fpn_toy-det'])
def test_zero_score_threshold_lets_every_candidate_through(name):
    """A head whose scores sit under the score threshold (an
    mmdet-initialised sigmoid head starts at the prior 0.01; here the
    threshold is raised to 0.999 instead, for sigmoid and softmax heads
    alike) would have the end-to-end benchmark time an NMS with no
    candidate. With the threshold at 0, one- and two-stage detectors keep
    their full top-K."""
    from mmengine.config import Config

    from mmshuffle.analysis.bench.detectors import (detector_predict,
                                                    zero_score_threshold)
    from mmshuffle.engine.configs import build_model
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'toy', name + '.py'))
    torch.manual_seed(0)
    model = build_model(cfg, pretrained=False).eval()
    head = getattr(model, 'roi_head', None) or model.bbox_head
    head.test_cfg['score_thr'] = 0.999
    if 'min_bbox_size' in head.test_cfg:
        # what random box regression can do: every box below the minimum
        # size (degenerate boxes, x2 < x1), none left for NMS
        head.test_cfg['min_bbox_size'] = 1e6
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        assert len(detector_predict(model)(x)[0].pred_instances) == 0
        assert zero_score_threshold(model) == 1
        assert head.test_cfg['score_thr'] == 0
        found = detector_predict(model)(x)[0].pred_instances
    assert len(found) == head.test_cfg['max_per_img']


def test_zero_score_threshold_refuses_a_model_without_one():
    from mmshuffle.analysis.bench.detectors import zero_score_threshold
    with pytest.raises(ValueError, match='no bbox_head or roi_head'):
        zero_score_threshold(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)))


def test_timing_primitives_and_the_machine():
    """The sgemm peak (torch.mm and onnxruntime's MatMul, the better of
    the two), the timers and the machine a run records; the caller's
    thread count is kept."""
    from mmshuffle.analysis.bench.timing import (best_seconds, cpu_name,
                                                 machine, median_p90,
                                                 random_inputs,
                                                 sgemm_peak_gflops,
                                                 time_calls)
    threads = torch.get_num_threads()
    peak = sgemm_peak_gflops(threads=1, size=64, runs=2)
    assert peak['peak'] == max(peak['torch'], peak['onnxruntime']) > 0
    assert torch.get_num_threads() == threads
    info = machine()
    assert info['cpu'] == cpu_name() != ''
    assert info['cores'] >= 1 and info['torch'] == torch.__version__
    assert median_p90([5, 1, 3, 2, 4]) == (3, 5)
    calls = []
    row = time_calls(calls.append, 1, runs=4, warmup=2)
    assert len(calls) == 6 and row['runs'] == 4
    assert row['p90_ms'] >= row['median_ms'] >= 0
    assert best_seconds(lambda: None, 2) >= 0
    first, second = random_inputs((8, 16), 2, seed=3)
    assert first.shape == (1, 3, 8, 16) and not (first == second).all()
    assert (random_inputs((8, 16), 1, seed=3)[0] == first).all()


def test_detectors_take_turns_and_book_ratios():
    """``bench_detectors`` on the network alone and mmdet's predict path
    (NMS included), one- and two-stage detectors: one row per (model,
    path), ratios against the
    reference's row of the same kind and against the model's own eager
    predict; the detections are counted with the score gate open."""
    from mmengine.config import Config

    from mmshuffle.analysis.bench.detectors import (bench_detectors,
                                                    zero_score_threshold)
    from mmshuffle.engine.configs import build_model
    toy = osp.join(ROOT, 'configs', 'toy')
    models = {}
    for name in ('retinanet_shufflenet-v2-1x_fpn_toy-det',
                 'retinanet-lite_shufflenet-v2-1x_lite-fpn_toy-det',
                 # two-stage: its network includes the RPN's proposals
                 'light-head-rcnn_shufflenet-v2-1x_small-head_toy-det'):
        model = build_model(Config.fromfile(osp.join(toy, name + '.py')),
                            pretrained=False)
        zero_score_threshold(model)
        models[name] = model.eval()
    ref = 'retinanet_shufflenet-v2-1x_fpn_toy-det'
    threads = torch.get_num_threads()
    rows = bench_detectors(models, ref, ['forward', 'pytorch'], threads=[1],
                           sizes=[64], runs=2, warmup=1,
                           log=lambda line: None)
    assert torch.get_num_threads() == threads
    by = {(r['model'], r['path']): r for r in rows}
    assert sorted(by) == sorted((m, p) for m in models
                                for p in ('forward', 'pytorch'))
    for (model, path), row in by.items():
        same = by[ref, path]
        assert row['ratio'] == pytest.approx(
            row['median_ms'] / same['median_ms'])
        assert row['reference'] == (model == ref)
        assert row['params'] > 0 and row['runs'] == 2
        if path == 'pytorch':
            assert row['eager_ratio'] == 1.0 and row['detections'] > 0
        else:
            assert 'eager_ratio' not in row and row['detections'] == 0
    with pytest.raises(ValueError, match='unknown path'):
        bench_detectors(models, ref, ['tensorrt'])
    with pytest.raises(ValueError, match="reference 'r18' is not one of"):
        bench_detectors(models, 'r18')


def test_demo_figures_are_the_recorded_run():
    """Every make demo figure of README.md, docs/get_started.md and
    docs/deployment.md is rendered from the recorded run
    (docs/benchmarks/demo.json, written by tools/misc/demo.py --record),
    which passed its bars."""
    from mmshuffle.analysis import demo_report
    record = _recorded('demo.json')
    assert record['passed'] and not record['failures']
    assert record['detection']['standalone']['same'] == \
        record['detection']['standalone']['images'] > 0
    check = record['detection']['export_check']
    assert check['matched'] == check['pytorch'] > 0

    def page(*path):
        return open(osp.join(ROOT, *path)).read()

    assert demo_report.headline(record) in ' '.join(
        page('README.md').split())
    assert demo_report.demo_table(record) in page('docs', 'get_started.md')
    for key in ('executorch', 'ncnn'):  # fp32: box for box
        check = record['detection']['phone_checks'][key]
        assert check['matched'] == check['pytorch'] > 0
    deployment = page('docs', 'deployment.md')
    for shown in (demo_report.int8_table(record),
                  demo_report.phone_table(record),
                  demo_report.weight_bits_table(record),
                  demo_report.metrics_line(record, 'classification'),
                  demo_report.metrics_line(record, 'classification',
                                           'pytorch'),
                  demo_report.metrics_line(record, 'detection'),
                  demo_report.metrics_line(record, 'detection', 'pytorch'),
                  demo_report.export_check(record)):
        assert shown in deployment, shown


@pytest.mark.parametrize('value', [0, -1, 2.5, True, '100'])
def test_set_nms_pre_refuses_what_is_not_a_count(value):
    from mmshuffle.deploy.detection import set_nms_pre
    with pytest.raises(ValueError, match=f'nms_pre must be an int >= 1, '
                       f'got {value!r}'):
        set_nms_pre(torch.nn.Module(), value)


@pytest.mark.parametrize('name, head', [
    ('rtmdet-lite_shufflenet-v2-1x_320_toy-det', 'bbox_head'),
    ('light-head-rcnn_shufflenet-v2-1x_small-head_toy-det', 'rpn_head')])
def test_set_nms_pre_caps_the_head_that_selects_candidates(name, head):
    from mmengine.config import Config

    from mmshuffle.deploy.detection import set_nms_pre
    from mmshuffle.engine.configs import build_model
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'toy', name + '.py'))
    model = build_model(cfg, pretrained=False)
    assert set_nms_pre(model, 7) == head
    assert getattr(model, head).test_cfg['nms_pre'] == 7
