"""The speed tools measure what they say, side by side; the figures
themselves are never asserted (wall-clock time is not a test)."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from mmshuffle.analysis.speed import (PATHS, bench_classifiers,
                                      bench_training)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark.py')


def test_every_path_runs_the_same_architecture():
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
