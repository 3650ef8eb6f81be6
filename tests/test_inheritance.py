"""Whole experiments inherit through ``mmshuffle::``: a project outside the
repository writes a config that names one of mmshuffle's by package name
and changes only its data, classes and schedule, and the tools run on it
(docs/openmmlab.md).

mmengine marks every typed dict it inherits through ``mmshuffle::`` with
``_scope_='mmshuffle'`` unless the dict names its scope already; mmshuffle's
configs name it (``_scope_='mmdet'`` / ``'mmpretrain'``) on every dict the
Runner builds, so that an inherited experiment is the same experiment."""
import glob
import json
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import run_tool_in_process
from mmengine.config import Config

import mmshuffle  # noqa: F401  (makes `mmshuffle::` known to mmengine)
from mmshuffle.engine.cli import parse_metrics
from mmshuffle.engine.configs import build_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs')
ALL = sorted(osp.relpath(p, CONFIGS) for p in glob.glob(
    osp.join(CONFIGS, '**', '*.py'), recursive=True))
TOOLS = osp.join(ROOT, 'tools')


def scopes(node, path=''):
    """``(path, _scope_, type)`` of every dict under ``node`` that names
    a scope."""
    if isinstance(node, dict):
        if '_scope_' in node:
            yield path, node['_scope_'], node.get('type')
        for key, value in node.items():
            yield from scopes(value, f'{path}.{key}' if path else key)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from scopes(value, f'{path}[{i}]')


def inherit(tmp_path, rel, text=''):
    """A user config in ``tmp_path`` that inherits ``mmshuffle::<rel>``."""
    path = tmp_path / f'user_{osp.basename(rel)}'
    path.write_text(f"_base_ = 'mmshuffle::{rel}'\n" + textwrap.dedent(text))
    return str(path)


@pytest.mark.parametrize('rel', ALL)
def test_an_inherited_config_is_the_same_experiment(rel, tmp_path):
    """Every config of configs/ (bases included) inherited by name: no
    dict is left to the ``mmshuffle`` scope, every named scope is the
    config's own; a complete config gives the same experiment as loaded
    from its file, and its model builds."""
    inherited = Config.fromfile(inherit(tmp_path, rel))
    found = list(scopes(inherited.to_dict()))
    assert not [f for f in found if f[1] == 'mmshuffle'], found
    if rel.startswith('_base_'):
        assert len({s for _, s, _ in found}) <= 1, found
        return
    scope = inherited.default_scope
    assert {s for _, s, _ in found} <= {scope}, found
    direct = Config.fromfile(osp.join(CONFIGS, rel))
    assert inherited.to_dict() == direct.to_dict()
    model = build_model(inherited, pretrained=False)
    assert type(model) is type(build_model(direct, pretrained=False))


#: the user configs: one classifier, a single-stage detector, a two-stage
#: detector and an EMA-trained one, each with its own data, classes and a
#: one-epoch schedule
CLS = '''
    data_root = 'mydata/cls/'
    train_dataloader = dict(batch_size=4, num_workers=0,
                            persistent_workers=False,
                            dataset=dict(data_root=data_root))
    val_dataloader = dict(batch_size=4, num_workers=0,
                          persistent_workers=False,
                          dataset=dict(data_root=data_root))
    test_dataloader = val_dataloader
    train_cfg = dict(max_epochs=1, val_interval=1)
    param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
'''
DET = '''
    data_root = 'mydata/det/'
    metainfo = dict(classes=('circle', 'square', 'triangle'))
    train_dataloader = dict(
        batch_size=2, num_workers=0, persistent_workers=False,
        dataset=dict(data_root=data_root, metainfo=metainfo))
    val_dataloader = dict(
        batch_size=2, num_workers=0, persistent_workers=False,
        dataset=dict(data_root=data_root, metainfo=metainfo))
    test_dataloader = val_dataloader
    val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
    test_evaluator = val_evaluator
    model = dict(backbone=dict(init_cfg=None), {head}=dict(num_classes=3))
    train_cfg = dict(max_epochs=1, val_interval=1)
'''
FAMILIES = {
    'classifier': ('toy/shufflenet-v2-1x_1xb64-30e_toy-shapes.py', CLS),
    'single-stage': ('toy/retinanet-lite_shufflenet-v2-1x_lite-fpn_'
                     'toy-det.py', DET.replace('{head}', 'bbox_head')),
    'two-stage': ('toy/faster-rcnn_shufflenet-v2-1x_fpn_toy-det.py',
                  DET.replace('{head}', 'roi_head=dict(bbox_head')
                  .replace('num_classes=3))', 'num_classes=3)))')),
    'ema': ('toy/rtmdet-lite_shufflenet-v2-1x_320_toy-det.py',
            DET.replace('{head}', 'bbox_head')),
}


def run(tool, *args, cwd):
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, *tool.split('/')),
         *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, (tool, proc.stderr[-3000:])
    return proc


def docs_yolo_to_coco():
    """The YOLO -> COCO converter of docs/openmmlab.md, as shown there."""
    import re
    page = open(osp.join(ROOT, 'docs', 'openmmlab.md')).read()
    (code, ) = [b for b in re.findall(r'```python\n(.*?)```', page, re.S)
                if 'def yolo_to_coco' in b]
    namespace = {}
    exec(compile(code, 'docs/openmmlab.md', 'exec'), namespace)
    return namespace['yolo_to_coco']


def as_yolo(coco_file, labels):
    """The boxes of a COCO file as YOLO label files (class = the index of
    the category in the file's list)."""
    import os
    coco = json.load(open(coco_file))
    index = {c['id']: i for i, c in enumerate(coco['categories'])}
    os.makedirs(labels)
    for image in coco['images']:
        rows = [a for a in coco['annotations']
                if a['image_id'] == image['id']]
        stem = osp.splitext(osp.basename(image['file_name']))[0]
        with open(osp.join(labels, stem + '.txt'), 'w') as f:
            for a in rows:
                x, y, w, h = a['bbox']
                f.write(f"{index[a['category_id']]} "
                        f"{(x + w / 2) / image['width']} "
                        f"{(y + h / 2) / image['height']} "
                        f"{w / image['width']} {h / image['height']}\n")
    return [c['name'] for c in coco['categories']]


@pytest.fixture(scope='module')
def user_data(tmp_path_factory):
    """A project folder outside the repository with its own small data:
    classification in folders; detection labelled in YOLO's format and
    converted to COCO's by the converter of docs/openmmlab.md."""
    import shutil
    root = tmp_path_factory.mktemp('project')
    from mmshuffle.datasets.toy import (make_toy_classification,
                                        make_toy_detection)
    make_toy_classification(str(root / 'mydata' / 'cls'), 12, 6, 48,
                            progress=False)
    raw = root / 'yolo_source'
    make_toy_detection(str(raw), 4, 2, 160, progress=False)
    det = root / 'mydata' / 'det'
    (det / 'annotations').mkdir(parents=True)
    yolo_to_coco = docs_yolo_to_coco()
    for split in ('train', 'val'):
        shutil.copytree(raw / split, det / split)
        classes = as_yolo(raw / 'annotations' / f'instances_{split}.json',
                          str(root / 'labels' / split))
        yolo_to_coco(str(det / split), str(root / 'labels' / split),
                     classes, str(det / 'annotations' /
                                  f'instances_{split}.json'))
    return root


def test_the_docs_yolo_converter_keeps_the_boxes(user_data):
    source = json.load(open(user_data / 'yolo_source' / 'annotations' /
                            'instances_val.json'))
    ours = json.load(open(user_data / 'mydata' / 'det' / 'annotations' /
                          'instances_val.json'))
    assert [c['name'] for c in ours['categories']] == \
        [c['name'] for c in source['categories']]
    assert len(ours['annotations']) == len(source['annotations']) > 0
    for a, b in zip(source['annotations'], ours['annotations']):
        assert b['bbox'] == pytest.approx(a['bbox'], abs=1e-3)


#: the families run end to end: RetinaNet-lite (single-stage) inherits
#: and builds as the others do (test_an_inherited_config_is_the_same_
#: experiment); RTMDet-lite runs the single-stage tools with its EMA
END_TO_END = ('classifier', 'two-stage', 'ema')


@pytest.mark.slow
@pytest.mark.parametrize('family', END_TO_END)
def test_a_project_trains_tests_and_exports_an_inherited_config(
        family, user_data, tmp_path, capsys, monkeypatch):
    """From the project's folder: tools/train.py (a process, as a user
    runs it), then tools/test.py, the exporter and tools/infer.py (in
    this process: the same code after the imports)."""
    rel, text = FAMILIES[family]
    cfg = inherit(tmp_path, rel, text)
    work = tmp_path / 'work'
    run('train.py', cfg, '--work-dir', work, cwd=user_data)
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    monkeypatch.chdir(user_data)
    monkeypatch.setenv('LOCAL_RANK', '0')  # what test.py would set
    threads = torch.get_num_threads()

    def tool(name, *args):
        code, out, err = run_tool_in_process(osp.join(TOOLS, name), args,
                                             capsys)
        torch.set_num_threads(threads)
        assert code == 0, (name, err[-3000:])
        return out

    # a model of two steps scores its boxes low: keep them all
    keep = [] if family == 'classifier' else [
        '--cfg-options', 'model.test_cfg.'
        f'{"rcnn." if family == "two-stage" else ""}score_thr=0.0']
    out = tool('test.py', cfg, ckpt, '--work-dir', tmp_path / 'test', *keep)
    metrics = parse_metrics(out)
    key = 'accuracy/top1' if family == 'classifier' else 'coco/bbox_mAP'
    assert key in metrics, metrics
    onnx_path = tmp_path / 'model.onnx'
    # the export is checked on a test image, at the same threshold; the
    # EMA RTMDet-lite of two steps scores thousands of priors alike, and
    # which 100 make the top-K is rounding's choice in any two runtimes:
    # no box would have a twin, and the check rightly refuses to call that
    # a pass (its export is checked box for box in test_detector_export)
    shape = ('--shape', '48') if family == 'classifier' else \
        ('--check-images', '0') if family == 'ema' else \
        ('--check-images', '1', *keep)
    tool('deployment/pytorch2onnx.py', cfg, ckpt, '--out', onnx_path, *shape)
    assert onnx_path.is_file()
    image = sorted(glob.glob(str(
        user_data / 'mydata' / ('cls' if family == 'classifier' else 'det')
        / 'val' / '**' / '*.png'), recursive=True))[0]
    tool('infer.py', cfg, onnx_path, image, '--out-dir', tmp_path / 'infer')
    summary = json.loads((tmp_path / 'infer' / 'predictions.json')
                         .read_text())
    if family == 'classifier':
        assert len(summary['classes']) == 6
    else:
        assert summary['classes'] == ['circle', 'square', 'triangle']


def test_a_project_config_that_disagrees_stops_in_one_line(
        user_data, tmp_path, capsys, monkeypatch):
    """Classes the head does not have, an annotation file that is not
    there, a pretrained checkpoint not found from the project's folder:
    one line naming the key (and the file), before training starts."""
    rel, text = FAMILIES['single-stage']
    monkeypatch.chdir(user_data)
    monkeypatch.setenv('LOCAL_RANK', '0')  # what train.py would set
    cases = [
        (text.replace('num_classes=3', 'num_classes=4'),
         'model.bbox_head.num_classes is 4, but train_dataloader.dataset.'
         "metainfo.classes has 3 classes ('circle', 'square', 'triangle'); "
         'set model.bbox_head.num_classes=3'),
        (text.replace('dataset=dict(data_root=data_root, metainfo=metainfo)',
                      'dataset=dict(data_root=data_root, metainfo=metainfo, '
                      "ann_file='annotations/none.json')", 1),
         "train_dataloader.dataset.ann_file 'mydata/det/annotations/"
         "none.json' does not exist"),
        (text.replace('backbone=dict(init_cfg=None), ', ''),
         "model.backbone.init_cfg.checkpoint 'work_dirs/demo_toy_shapes/"
         f"epoch_30.pth' does not exist (relative to {user_data})"),
    ]
    for i, (body, message) in enumerate(cases):
        cfg = inherit(tmp_path, rel, body)
        code, _, err = run_tool_in_process(
            osp.join(TOOLS, 'train.py'),
            [cfg, '--work-dir', tmp_path / f'w{i}'], capsys)
        lines = [ln for ln in err.strip().splitlines()
                 if ln.startswith('error:')]
        assert code == 2 and len(lines) == 1, err[-2000:]
        assert message in lines[0], (message, lines[0])
        assert not (tmp_path / f'w{i}' / 'epoch_1.pth').exists()
