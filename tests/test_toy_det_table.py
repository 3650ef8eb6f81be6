"""The toy accuracy-latency table: its configs, the tools that measure it
(tools/analysis_tools/toy_det_table.py, benchmark.py det --toy) and the
page that shows it (docs/detection.md, rendered from the recorded runs)."""
import copy
import json
import os.path as osp
import subprocess
import sys

import pytest
from helpers import run_tool_in_process
from mmengine.config import Config

from mmshuffle.analysis.report import (accuracy_latency_table,
                                       draw_map_latency, rtmdet_target_table)
from mmshuffle.analysis.toy_table import (BACKBONES, FAMILIES,
                                          toy_det_config, toy_det_configs)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'toy_det_table.py')
BENCH = osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark.py')
BACKBONE_TYPES = {
    'shufflenet-v2-1x': 'mmshuffle.ShuffleNetV2',
    'shufflenet-v1-1x-g3': 'mmshuffle.ShuffleNetV1',
    'mobilenet-v2-1x': 'mmshuffle.MobileNetV2',
}
DETECTORS = {
    'retinanet': ('RetinaNet', 'RetinaHead'),
    'retinanet-lite': ('RetinaNet', 'mmshuffle.LiteRetinaHead'),
    'ssdlite': ('SingleStageDetector', 'mmshuffle.SSDLiteHead'),
    'rtmdet-lite': ('RTMDet', 'mmshuffle.LiteRTMDetHead'),
    'light-head-rcnn': ('FasterRCNN', 'ConvFCBBoxHead'),
}


def _recorded(name):
    with open(osp.join(ROOT, 'docs', 'benchmarks', name)) as f:
        return json.load(f)


@pytest.mark.parametrize('family', FAMILIES)
@pytest.mark.parametrize('backbone', BACKBONES)
def test_every_detector_has_its_toy_config_with_the_same_budget(
        family, backbone):
    cfg = Config.fromfile(osp.join(ROOT, toy_det_config(family, backbone)))
    assert cfg.model.backbone.type == BACKBONE_TYPES[backbone]
    head = cfg.model.get('bbox_head') or cfg.model.roi_head.bbox_head
    assert (cfg.model.type, head.type) == DETECTORS[family]
    assert head.num_classes == 4
    # the same budget: 12 epochs of batch 4, from the toy classifier
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.model.backbone.init_cfg.checkpoint == cfg.pretrained
    assert cfg.pretrained.endswith('epoch_30.pth')
    with pytest.raises(ValueError, match="family must be one of"):
        toy_det_config('yolo', backbone)
    with pytest.raises(ValueError, match="backbone must be one of"):
        toy_det_config(family, 'resnet-18')


def _fake_runs(rtm_map, rtm_ms):
    table = dict(results=[])
    latency = dict(threads=[1, 2], results=[])
    for backbone in BACKBONES:
        for family in FAMILIES:
            model = osp.basename(toy_det_config(family, backbone))[:-3]
            rtm = family == 'rtmdet-lite'
            table['results'].append(dict(
                model=model, family=family, backbone=backbone,
                params=1_500_000, flops=400e6, train_seconds=100.0, epochs=4,
                bbox_mAP=rtm_map if rtm else 0.4, bbox_mAP_50=0.7))
            for threads in (1, 2):
                latency['results'].append(dict(
                    model=model, threads=threads, size=320, path='forward',
                    cpu_median_ms=rtm_ms if rtm else 20.0,
                    median_ms=(rtm_ms if rtm else 20.0) / threads))
    return table, latency


def test_target_verdicts_say_by_how_much_a_target_is_missed():
    met = rtmdet_target_table(*_fake_runs(0.45, 18.0))
    assert met.count('| met |') == 3
    lower = rtmdet_target_table(*_fake_runs(0.38, 18.0))
    assert lower.count('| missed: mAP 0.020 lower |') == 3
    slower = rtmdet_target_table(*_fake_runs(0.45, 22.0))
    assert slower.count('| missed: 10% slower |') == 3
    table = accuracy_latency_table(*_fake_runs(0.45, 22.0))
    assert table.count('\n') == 2 + 15 - 1
    assert '| ShuffleNet V1 1x g3 | RTMDet-lite | 1.500 M | 400.0 | 22.0 ' \
           '| 11.0 | 0.450 | 0.700 | 100 |' in table
    table, latency = _fake_runs(0.45, 22.0)
    # rows trained on two CPUs: each says which (training seconds are its
    # CPU's); one CPU: no such column
    table['cpu'] = 'AMD EPYC'
    assert 'trained on' not in accuracy_latency_table(table, latency)
    table['results'][-1]['cpu'] = 'Intel(R) Xeon(R) Processor'
    mixed = accuracy_latency_table(table, latency)
    assert mixed.splitlines()[0].endswith('| training s | trained on |')
    assert mixed.count('| 100 | AMD EPYC |') == 14
    assert mixed.splitlines()[-1].endswith('| 100 | Intel Xeon |')
    broken = copy.deepcopy(latency)
    broken['results'] = broken['results'][2:]
    with pytest.raises(ValueError, match='0 forward rows'):
        accuracy_latency_table(table, broken)


def test_detection_page_shows_the_recorded_runs():
    """docs/detection.md's accuracy-latency and target tables are rendered
    from the recorded runs, which cover every detector on every backbone
    (in the table's order), give each the same budget and measure the same
    networks (same parameter counts)."""
    table = _recorded('det_toy.json')
    latency = _recorded('det_toy_latency.json')
    configs = [r['config'] for r in table['results']]
    assert configs == toy_det_configs()
    budgets = {(r['epochs'], r['batch_size'], r['iterations'], r['threads'])
               for r in table['results']}
    assert len(budgets) == 1
    epochs, batch, iterations, _ = budgets.pop()
    assert iterations == epochs * 800 // batch
    assert latency['toy'] and latency['sizes'] == [320]
    for row in table['results']:
        lat = [r for r in latency['results'] if r['model'] == row['model']]
        assert lat and {r['params'] for r in lat} == {row['params']}
    page = open(osp.join(ROOT, 'docs', 'detection.md')).read()
    assert accuracy_latency_table(table, latency) in page
    assert rtmdet_target_table(table, latency) in page
    text = ' '.join(page.split())
    assert f'{epochs} epochs of batch {batch} ({iterations} iterations)' \
        in text
    assert osp.isfile(osp.join(ROOT, 'docs', 'benchmarks', 'det_toy.png'))


def test_plot_and_bad_options(tmp_path, capsys, monkeypatch):
    table, latency = _fake_runs(0.45, 18.0)
    png = draw_map_latency(table, latency, str(tmp_path / 'a.png'))
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    fake = tmp_path / 'table.json'
    fake.write_text(json.dumps(table))
    for argv, message in [
        (['--jobs', '0'], 'error: --jobs must be >= 1, got 0'),
        (['--families', 'yolo'], "error: argument --families: invalid "
         "choice: 'yolo'"),
        (['--plot', str(tmp_path / 'b.png'), '--json', str(fake), '--latency',
          str(tmp_path / 'none.json')],
         f'error: --plot needs {tmp_path / "none.json"}: no such file'),
    ]:
        monkeypatch.chdir(ROOT)
        code, _, err = run_tool_in_process(TOOL, argv, capsys)
        assert code == 2, err
        assert err.strip().splitlines()[-1].startswith(message)
    assert not (tmp_path / 'b.png').exists()


@pytest.mark.slow
def test_benchmark_det_toy_measures_the_table_detectors(tmp_path):
    out = tmp_path / 'toy.json'
    model = 'rtmdet-lite_mobilenet-v2-1x_320_toy-det'
    proc = subprocess.run(
        [sys.executable, BENCH, 'det', '--toy', '--models', model,
         '--sizes', '64', '--runs', '1', '--warmup', '0', '--threads', '1',
         '0', '--paths', 'forward', 'pytorch', '--nms-pre', '5', '--json',
         str(out)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data['toy'] and data['models'] == [model]
    # --nms-pre caps every detector's candidates per level: at most 5 on
    # each of RTMDet-lite's 3 levels reach NMS (every one clears the zero
    # score threshold; uncapped, its 64x64 image has 84 priors x 4 classes)
    assert data['nms_pre'] == 5
    found = [r['detections'] for r in data['results']
             if r['model'] == model and r['path'] == 'pytorch']
    assert found and all(0 < n <= 15 for n in found)
    names = [(r['model'], r['threads'], r['reference'])
             for r in data['results']]
    threads = sorted({t for _, t, _ in names})
    assert len(threads) in (1, 2) and threads[0] == 1
    for t in threads:
        assert ('retinanet_shufflenet-v2-1x_fpn_toy-det', t, True) in names
        assert (model, t, False) in names


def test_force_retrains_the_selected_rows_and_keeps_the_others(
        tmp_path, monkeypatch):
    """``--force`` replaces the rows of the detectors it is given and keeps
    every other recorded row (it once dropped them all); without it, a
    recorded row is not retrained. Training itself is replaced by a stand-in
    that returns a new row: this checks the tool's bookkeeping."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('toy_det_table_tool', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    table, _ = _fake_runs(0.45, 18.0)
    for row in table['results']:
        row.update(config=toy_det_config(row['family'], row['backbone']),
                   epochs=4)
    path = tmp_path / 'det_toy.json'
    path.write_text(json.dumps(table))
    trained = []

    def fake_train(py, family, backbone, work_root, threads, size, epochs,
                   reuse=True):
        trained.append((family, backbone, reuse))
        return dict(config=toy_det_config(family, backbone), model='new',
                    family=family, backbone=backbone, epochs=epochs,
                    bbox_mAP=0.9)

    monkeypatch.setattr(tool, 'train_detector', fake_train)
    monkeypatch.setattr(tool, 'complexity', lambda config: {})
    monkeypatch.setattr(tool, 'run', lambda *a, **k: ('', 0.0))
    monkeypatch.setattr(tool, 'train_classifier', lambda *a, **k: None)
    argv = ['--epochs', '4', '--jobs', '1', '--families', 'ssdlite',
            '--backbones', 'shufflenet-v1-1x-g3', '--json', str(path),
            '--work-dir', str(tmp_path / 'runs')]
    tool.main(argv)
    assert trained == []   # recorded already: nothing to do
    tool.main(argv + ['--force'])
    assert trained == [('ssdlite', 'shufflenet-v1-1x-g3', False)]
    rows = json.loads(path.read_text())['results']
    assert [r['config'] for r in rows] == toy_det_configs()
    new = [r for r in rows if r['model'] == 'new']
    assert [(r['family'], r['backbone']) for r in new] == [
        ('ssdlite', 'shufflenet-v1-1x-g3')]


def test_rows_keep_the_cpu_that_trained_them(tmp_path):
    """A row's training seconds are its CPU's: rows of a file written
    before rows carried their CPU get the file's; a file whose rows come
    from two CPUs lists both and each row keeps its own."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('toy_det_table_tool', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    path = str(tmp_path / 'det_toy.json')
    with open(path, 'w') as f:
        json.dump(dict(cpu='AMD EPYC', results=[dict(model='a'),
                                                 dict(model='b')]), f)
    rows = tool.load_rows(path)
    assert [r['cpu'] for r in rows] == ['AMD EPYC', 'AMD EPYC']
    rows[1]['cpu'] = 'Intel(R) Xeon(R) Processor'
    tool.save_rows(path, rows)
    with open(path) as f:
        assert json.load(f)['cpu'] == ['AMD EPYC',
                                       'Intel(R) Xeon(R) Processor']
    assert [r['cpu'] for r in tool.load_rows(path)] == [
        'AMD EPYC', 'Intel(R) Xeon(R) Processor']
    # a row without its CPU in a two-CPU file: unknown, not a list
    with open(path) as f:
        data = json.load(f)
    del data['results'][0]['cpu']
    with open(path, 'w') as f:
        json.dump(data, f)
    assert tool.load_rows(path)[0]['cpu'] == 'unknown'
