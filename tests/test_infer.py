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
from helpers import LITE, make_tiny_toy_data, real_files, run_tool_in_process
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
        assert result['ok'] and result['matched'] >= 0.9 * result[
            'reference'], (backend, result)


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


@pytest.mark.slow
def test_real_files_are_read_upright_and_bad_ones_skipped(tmp_path,
                                                          lite_export):
    """A folder with an EXIF-rotated photo, CMYK, 16-bit and transparent
    files and three that are not images: every image is predicted, the
    rotated photo gives the boxes of the upright one (in its upright
    pixels, on an upright picture), each bad file is one line and the run
    ends with status 1 after writing everything."""
    make_tiny_toy_data(tmp_path, det=(1, 1, 160))
    source = next((tmp_path / 'data' / 'toy_det' / 'val').iterdir())
    rgb = real_files(tmp_path / 'photos', source)
    _, _, onnx_path = lite_export
    out = tmp_path / 'out'
    proc = infer(LITE, onnx_path, tmp_path / 'photos', '--out-dir', out,
                 '--score-thr', 0.5, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines()
              if ln.startswith('error: ')]
    assert len(errors) == 3, proc.stderr[-2000:]
    for name, why in (('f_notes.jpg', 'not an image file'),
                      ('g_empty.png', 'the file is empty'),
                      ('h_cut.png', 'cannot decode')):
        assert any(name in e and why in e for e in errors), (name, errors)
    assert 'Traceback' not in proc.stderr
    assert '5 image(s) with onnxruntime' in proc.stdout
    assert '3 could not be read' in proc.stdout
    summary = json.loads((out / 'predictions.json').read_text())
    lines = (out / 'predictions.jsonl').read_text().splitlines()
    assert len(lines) == len(summary['predictions']) == 8
    assert summary['failed'] == 3 and not summary['interrupted']
    by_name = {osp.basename(r['image']): r for r in summary['predictions']}
    upright, phone = by_name['a_upright.png'], by_name['b_phone.png']
    assert phone['read'] == ['EXIF orientation 8']
    assert phone['size'] == upright['size'] == [rgb.shape[1], rgb.shape[0]]
    assert Image.open(phone['picture']).size == tuple(upright['size'])
    # the same picture, read upright from either file: the same boxes
    assert len(upright['detections']) > 5
    result = compare_detections([as_arrays(upright)], [as_arrays(phone)],
                                box_tol=0.05, score_tol=1e-4)
    assert result['ok'] and result['matched'] == result['reference'] > 0, \
        result
    assert by_name['c_cmyk.jpg']['read'] == ['CMYK converted to RGB']
    assert by_name['d_deep.png']['read'] == ['16-bit scaled to 8']
    assert by_name['e_palette.png']['read'] == [
        'P transparency composited over white']
    assert all(len(by_name[n]['detections']) > 0 for n in
               ('c_cmyk.jpg', 'd_deep.png', 'e_palette.png'))


@pytest.mark.slow
def test_batches_give_the_predictions_of_single_images(
        tmp_path, lite_export, capsys, monkeypatch):
    """--batch 3 over 7 same-size images (the last batch short) gives the
    predictions of --batch 1, in onnxruntime (a dynamic-batch export) and
    in PyTorch (the tool in this process; its entry point runs as a
    process in the other tests)."""
    make_tiny_toy_data(tmp_path, det=(1, 7, 160))
    _, ckpt, onnx_path = lite_export
    val = tmp_path / 'data' / 'toy_det' / 'val'
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    for weights in (onnx_path, ckpt):
        runs = []
        for batch in (1, 3):
            out = tmp_path / f'{osp.basename(str(weights))}_{batch}'
            code, _, err = run_tool_in_process(
                TOOL, [LITE, weights, val, '--out-dir', out, '--batch',
                       batch], capsys)
            torch.set_num_threads(threads)
            assert code == 0, err[-2000:]
            runs.append(json.loads((out / 'predictions.json').read_text())
                        ['predictions'])
        single, batched = runs
        assert [r['image'] for r in single] == [r['image'] for r in batched]
        result = compare_detections([as_arrays(r) for r in single],
                                    [as_arrays(r) for r in batched],
                                    box_tol=0.05, score_tol=1e-4)
        assert result['ok'] and result['matched'] > 50, result


@pytest.mark.slow
def test_ctrl_c_keeps_the_predictions_made(tmp_path, lite_export):
    """Interrupted after its first images, infer.py leaves them in
    predictions.jsonl and predictions.json (marked interrupted) and exits
    with 130."""
    import signal
    import time
    make_tiny_toy_data(tmp_path, det=(1, 60, 160))
    _, _, onnx_path = lite_export
    out = tmp_path / 'out'
    proc = subprocess.Popen(
        [sys.executable, TOOL, LITE, str(onnx_path),
         str(tmp_path / 'data' / 'toy_det' / 'val'), '--out-dir', str(out),
         '--threads', '1'],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                    signal.SIG_DFL))
    lines = out / 'predictions.jsonl'
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (
            lines.exists() and lines.read_text().count('\n') >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert 'interrupted (Ctrl-C)' in stderr
    summary = json.loads((out / 'predictions.json').read_text())
    done = summary['predictions']
    assert summary['interrupted'] and 2 <= len(done) < 60
    assert len(lines.read_text().splitlines()) == len(done)
