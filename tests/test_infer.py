"""tools/infer.py: images, folders and globs in; pictures and one JSON of
predictions out; a checkpoint in PyTorch and its export in onnxruntime
and OpenVINO give the same predictions; bad input is one error line."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import LITE, make_tiny_toy_data, run_tool_in_process
from mmengine.config import Config
from PIL import Image

from mmshuffle.deploy.detection import compare_detections

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'infer.py')
CLS_CFG = osp.join(ROOT, 'configs', 'toy',
                   'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')


def infer(*args, cwd):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)


def as_arrays(record):
    dets = record['detections']
    return dict(
        bboxes=np.array([d['bbox'] for d in dets], np.float32).reshape(-1, 4),
        scores=np.array([d['score'] for d in dets], np.float32),
        labels=np.array([d['label'] for d in dets], np.int64))


@pytest.mark.slow
def test_detection_pictures_and_json_match_across_backends(tmp_path,
                                                           lite_export):
    make_tiny_toy_data(tmp_path, det=(1, 7, 160))
    _, ckpt, onnx_path = lite_export  # the export takes raw pixels
    val = tmp_path / 'data' / 'toy_det' / 'val'
    runs = {}
    for backend, weights in (('pytorch', ckpt), ('onnxruntime', onnx_path),
                             ('openvino', onnx_path)):
        out = tmp_path / backend
        # a folder, a glob and a file already named: 7 distinct images
        proc = infer(LITE, weights, val, str(val / '00000*.png'),
                     val / '000000.png', '--out-dir', out, '--backend',
                     backend, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert '7 image(s)' in proc.stdout
        assert '7/7' in proc.stderr  # the progress bar
        summary = json.loads((out / 'predictions.json').read_text())
        assert summary['task'] == 'detection'
        assert summary['classes'] == ['circle', 'square', 'triangle', 'star']
        records = summary['predictions']
        assert len(records) == 7
        for record in records:
            picture = Image.open(record['picture'])
            assert picture.size == Image.open(record['image']).size
        runs[backend] = records
    drawn = np.asarray(Image.open(runs['pytorch'][0]['picture']))
    assert not np.array_equal(drawn, np.asarray(
        Image.open(runs['pytorch'][0]['image']).convert('RGB')))
    reference = [as_arrays(r) for r in runs.pop('pytorch')]
    assert sum(len(r['scores']) for r in reference) > 50
    for backend, records in runs.items():
        result = compare_detections(reference, [as_arrays(r)
                                                for r in records],
                                    box_tol=0.05, score_tol=1e-4)
        assert result['ok'], (backend, result)


@pytest.mark.slow
def test_classification_top5_and_bad_input(tmp_path, capsys, monkeypatch):
    from mmpretrain.registry import MODELS
    from mmengine.registry import DefaultScope

    from mmshuffle.deploy.onnx import ClassifierForExport, export_onnx
    make_tiny_toy_data(tmp_path, cls=(6, 6, 64))
    cfg = Config.fromfile(CLS_CFG)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = tmp_path / 'cls.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    onnx_path = tmp_path / 'cls.onnx'
    export_onnx(ClassifierForExport(model.eval()), str(onnx_path), (64, 64),
                output_names=['logits'])
    image = next((tmp_path / 'data' / 'toy_shapes' / 'val').rglob('*.png'))
    tops = {}
    for backend, weights in (('pytorch', ckpt), ('onnxruntime', onnx_path)):
        out = tmp_path / backend
        proc = infer(CLS_CFG, weights, image, '--out-dir', out, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        record = json.loads(
            (out / 'predictions.json').read_text())['predictions'][0]
        assert len(record['top5']) == 5
        assert osp.isfile(record['picture'])
        tops[backend] = record['top5']
    assert [t['label'] for t in tops['pytorch']] == \
        [t['label'] for t in tops['onnxruntime']]
    assert max(abs(a['score'] - b['score']) for a, b in zip(
        tops['pytorch'], tops['onnxruntime'])) < 1e-4

    cases = [
        ((CLS_CFG, ckpt, tmp_path / 'missing.png'), 'does not exist'),
        ((CLS_CFG, ckpt, str(tmp_path / '*.jpg')), 'matches no image'),
        ((CLS_CFG, ckpt, image, '--backend', 'onnxruntime'),
         'needs an exported model'),
        ((LITE, onnx_path, image), 'classification model but the config is '
         'a detection config'),
        ((CLS_CFG, ckpt, image, '--score-thr', 2), '--score-thr'),
    ]
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    for args, message in cases:
        code, _, err = run_tool_in_process(TOOL, args, capsys)
        assert code == 2, (args, err[-2000:])
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('error:'), lines
        assert message in lines[0], (args, lines[0])
    torch.set_num_threads(threads)  # infer.py sets the thread count
