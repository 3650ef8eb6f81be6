"""The speed tools measure what they say, side by side; the figures
themselves are never asserted (wall-clock time is not a test)."""
import json
import os.path as osp
import subprocess
import sys

import copy

import pytest
import torch

from mmshuffle.analysis.speed import (PATHS, bench_classifiers,
                                      bench_training, build_classifier,
                                      build_paths)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark.py')


def test_rows_and_ratios_are_booked_per_path():
    paths = [p for p in PATHS if p != '+compile']
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
                                  'shufflenet-v1-1x-g3'])
def test_every_path_computes_the_same_network(arch, tmp_path):
    """What each path times is the same network: torchvision's and
    mmpretrain's weights load into the mmshuffle classifier and give their
    outputs; the deploy, channels_last and onnxruntime forms give the
    mmshuffle classifier's outputs."""
    from mmshuffle.converters import convert_torchvision
    paths = [p for p in PATHS if p not in ('+compile',
                                          'torchvision onnxruntime')]
    torch.manual_seed(0)
    fns = build_paths(arch, paths, (64, 64), 1, str(tmp_path))
    ours = fns['mmshuffle']
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = ours(x)
        for path in ('+deploy', '+channels_last', 'onnxruntime'):
            out = fns[path](x)
            if isinstance(out, list):  # onnxruntime: one array per output
                out = torch.from_numpy(out[0])
            torch.testing.assert_close(out, expected, atol=1e-4, rtol=0,
                                       msg=path)
        others = {'mmpretrain': fns['mmpretrain'].classifier.state_dict()}
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
         'onnxruntime', '--threads', '1', '0', '--shape', '64', '--batch',
         '2', '--runs', '2', '--warmup', '1', '--json', str(out), '--png',
         str(png)],
        cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data['mode'] == 'cls' and data['machine']['cores'] >= 1
    rows = data['results']
    assert len(rows) == 8  # 4 paths x (1 thread, all cores)
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
    from mmshuffle.analysis.speed import markdown_table
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
    from mmshuffle.engine.cli import build_model
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
    from mmshuffle.analysis.speed import floor_section, targets_table
    data = _recorded('cls.json')
    page = open(osp.join(ROOT, 'docs', 'benchmarks.md')).read()
    assert targets_table(data) in page
    assert floor_section(data) in page


def test_readme_speed_figures_are_the_recorded_runs():
    """README's classifier latencies and training ratios are those of the
    recorded cls and train runs (docs/benchmarks.md)."""
    cls, train = _recorded('cls.json'), _recorded('train.json')
    readme = ' '.join(open(osp.join(ROOT, 'README.md')).read().split())

    def row(path):
        return [r for r in cls['results'] if r['threads'] == 1
                and r['arch'] == 'shufflenet-v2-1x' and r['path'] == path][0]

    compiled, ort = row('+compile'), row('onnxruntime')
    assert (f'torchvision eager {row("torchvision")["median_ms"]:.2f} ms; '
            f'mmshuffle compiled {compiled["median_ms"]:.2f} ms '
            f'({compiled["ratio"]:.2f}x), in onnxruntime '
            f'{ort["median_ms"]:.2f} ms ({ort["ratio"]:.2f}x)') in readme
    ratios = [r['ratio'] for r in train['results']
              if r['impl'] == 'mmshuffle channels_last']
    assert (f'train on CPU {min(ratios):.1f}x-{max(ratios):.1f}x as fast '
            "as mmpretrain's") in readme


def test_detector_figures_are_the_recorded_run():
    """docs/detection.md's latency table is rendered from the recorded
    det run, the page shows the command that wrote it, and README's
    ratio ranges are that run's."""
    from mmshuffle.analysis.speed import (detector_ratio_range,
                                          detector_table)
    data = _recorded('det.json')
    assert data['mode'] == 'det' and data['machine']['cores'] >= 1
    page = open(osp.join(ROOT, 'docs', 'detection.md')).read()
    assert detector_table(data) in page
    command = ('python tools/analysis_tools/benchmark.py det --sizes '
               + ' '.join(map(str, data['sizes']))
               + f" --threads {data['threads']} --runs {data['runs']} "
               f"--warmup {data['warmup']} --json docs/benchmarks/det.json")
    assert command in page
    text = ' '.join(page.split())
    assert (f"({data['runs']} timed calls each after {data['warmup']} "
            'warm-up calls)') in text
    loads = [data['load_average_before'][0], data['load_average_after'][0]]
    assert (f'(load average {min(loads):.1f} to {max(loads):.1f}, '
            'recorded in the JSON)') in text
    readme = ' '.join(open(osp.join(ROOT, 'README.md')).read().split())
    size = max(data['sizes'])
    assert (f'at {size}x{size} takes '
            f'{detector_ratio_range(data, True, size)} of mmdet\'s '
            'RetinaNet-ResNet18-FPN (the stock RetinaNet on these '
            f'backbones: {detector_ratio_range(data, False, size)})'
            ) in readme


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
        'det', [64], 1, 1)
    rows = data['results']
    assert len(rows) == 7
    assert [r['reference'] for r in rows] == [True] + [False] * 6
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
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1] == \
        'error: --sizes must be >= 32, got 16'
