"""ONNX export: plain ONNX operators only, onnxruntime equal to PyTorch
within 1e-4 at batch 1 and 8, and the export tool end to end."""
import os.path as osp
import subprocess
import sys
from collections import Counter

import onnx
import pytest
import torch
from helpers import build_backbone, randomize_bn_stats, run_tool_in_process
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmshuffle.deploy.onnx import (BackboneForExport, check_shape,
                                   compare_with_onnxruntime, export_onnx)
from mmshuffle.engine.cli import parse_metrics

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'deployment', 'pytorch2onnx.py')
CLS_CFG = osp.join(ROOT, 'configs', 'shufflenet_v2',
                   'shufflenet-v2-1x_16xb64_in1k.py')
DET_CFG = osp.join(ROOT, 'configs', 'retinanet',
                   'retinanet_shufflenet-v1-1x-g3_fpn_1x_coco.py')


@pytest.mark.parametrize('name,kwargs,outputs', [
    ('ShuffleNetV2', dict(), (0, 1, 2, 3)),
    ('ShuffleNetV2', dict(extra_dw=True), (0, 1, 2)),
    ('ShuffleNetV1', dict(groups=3), (0, 1, 2)),
    ('ShuffleNetV2Plus', dict(arch='small'), (0, 1, 2, 3, 4)),
    ('MobileNetV2', dict(), (2, 4, 7)),
])
def test_backbones_export_with_plain_operators(tmp_path, name, kwargs,
                                               outputs):
    model = build_backbone(name, out_indices=outputs, **kwargs)
    wrapped = BackboneForExport(randomize_bn_stats(model).eval())
    path = str(tmp_path / 'backbone.onnx')
    names = [f'feat{i}' for i in range(len(outputs))]
    export_onnx(wrapped, path, (64, 96), dynamic_batch=True,
                output_names=names)
    graph = onnx.load(path).graph
    assert [o.name for o in graph.output] == names
    ops = Counter(node.op_type for node in graph.node)
    assert {node.domain for node in graph.node} <= {'', 'ai.onnx'}
    if name in ('ShuffleNetV1', 'ShuffleNetV2'):
        # channel_shuffle: Reshape -> Transpose -> Reshape, no custom op
        assert ops['Transpose'] > 0 and ops['Reshape'] > 0
    assert 'BatchNormalization' not in ops  # exported in deploy form
    for result in compare_with_onnxruntime(wrapped, path, (1, 8)):
        assert result['max_abs_diff'] <= 1e-4, result
    assert sorted(p.name for p in tmp_path.iterdir()) == ['backbone.onnx']


def test_bad_shape_and_opset(tmp_path):
    with pytest.raises(ValueError, match='shape must be'):
        check_shape((16, 224))
    with pytest.raises(ValueError, match='opset must be'):
        export_onnx(build_backbone('ShuffleNetV2'), str(tmp_path / 'x.onnx'),
                    opset=9)


def save_checkpoint(cfg_path, path, scope='mmpretrain'):
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    cfg = Config.fromfile(cfg_path)
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    randomize_bn_stats(model)
    torch.save({'state_dict': model.state_dict()}, path)


def run_tool(*args, cwd):
    return subprocess.run([sys.executable, TOOL, *map(str, args)],
                          cwd=cwd, capture_output=True, text=True)


@pytest.mark.slow
def test_export_tool_classifier_and_backbone(tmp_path, capsys,
                                            monkeypatch):
    ckpt = tmp_path / 'cls.pth'
    save_checkpoint(CLS_CFG, ckpt)
    out = tmp_path / 'cls.onnx'
    proc = run_tool(CLS_CFG, ckpt, '--out', out, '--shape', 96, 128,
                    '--dynamic-batch', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'batch 1: max |PyTorch - onnxruntime|' in proc.stdout
    assert 'batch 8: max |PyTorch - onnxruntime|' in proc.stdout
    graph = onnx.load(str(out)).graph
    assert [o.name for o in graph.output] == ['logits']
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims][1:] == [3, 96, 128]

    # a detection config: its backbone alone, multi-scale features (the
    # tool in this process from here: its entry point ran above)
    monkeypatch.chdir(tmp_path)
    det_ckpt = tmp_path / 'det.pth'
    save_checkpoint(DET_CFG, det_ckpt, scope='mmdet')
    code, _, err = run_tool_in_process(
        TOOL, [DET_CFG, det_ckpt, '--out', tmp_path / 'bb.onnx',
               '--backbone-only'], capsys)
    assert code == 0, err[-2000:]
    graph = onnx.load(str(tmp_path / 'bb.onnx')).graph
    assert [o.name for o in graph.output] == ['feat0', 'feat1', 'feat2']

    # tolerance is enforced: the tool fails loudly above it
    code, _, err = run_tool_in_process(
        TOOL, [CLS_CFG, ckpt, '--out', out, '--tolerance', 1e-12], capsys)
    assert code == 1
    assert 'onnxruntime differs from PyTorch' in err


@pytest.mark.slow
def test_export_tool_bad_input(tmp_path, capsys, monkeypatch):
    ckpt = tmp_path / 'cls.pth'
    save_checkpoint(CLS_CFG, ckpt)
    cases = [
        ((DET_CFG, ckpt, '--out', tmp_path / 'a.onnx'), 'does not fit'),
        ((CLS_CFG, tmp_path / 'none.pth', '--out', tmp_path / 'a.onnx'),
         'does not exist'),
        ((CLS_CFG, ckpt, '--out', tmp_path / 'a.onnx', '--shape', 8),
         'shape must be'),
        ((CLS_CFG, ckpt, '--out', tmp_path / 'a.txt'), '.onnx'),
    ]
    monkeypatch.chdir(tmp_path)
    for args, message in cases:
        code, _, err = run_tool_in_process(TOOL, args, capsys)
        assert code == 2, (args, err[-2000:])
        assert message in err, (args, err[-2000:])
    assert not (tmp_path / 'a.onnx').exists()


@pytest.mark.slow
def test_deployment_doc_snippet_matches_pytorch(tmp_path):
    """The onnxruntime snippet of docs/deployment.md, run on an exported
    toy classifier, gives the PyTorch classifier's scores."""
    import re

    import numpy as np
    from PIL import Image

    from mmshuffle.deploy.onnx import ClassifierForExport
    toy_cfg = osp.join(ROOT, 'configs', 'toy',
                       'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(toy_cfg)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    randomize_bn_stats(model).eval()
    wrapped = ClassifierForExport(model)
    onnx_path = str(tmp_path / 'toy.onnx')
    export_onnx(wrapped, onnx_path, (96, 96), output_names=['logits'])
    image_path = str(tmp_path / 'img.png')
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (120, 90, 3), np.uint8)).save(
        image_path)

    text = open(osp.join(ROOT, 'docs', 'deployment.md')).read()
    snippet = [b for b in re.findall(r'```python\n(.*?)```', text, re.S)
               if 'def classify' in b]
    assert len(snippet) == 1
    namespace = {}
    exec(compile(snippet[0], 'docs/deployment.md', 'exec'), namespace)
    top, scores = namespace['classify'](onnx_path, image_path, size=96)
    x = torch.from_numpy(namespace['load_image'](image_path, 96))
    with torch.no_grad():
        expected = wrapped(x).softmax(1)[0].numpy()
    assert top == int(expected.argmax())
    assert np.abs(scores - expected).max() < 1e-5


@pytest.mark.slow
def test_onnx_test_tool_gives_the_pytorch_predictions(tmp_path, capsys,
                                                      monkeypatch):
    """tools/deployment/test_onnx.py on an exported toy classifier: the
    config's pipeline, onnxruntime's scores and the config's evaluator give
    tools/test.py's metrics and predictions (test_onnx.py as a process, the
    exporter and test.py in this process: their entry points run as
    processes in other tests)."""
    import pickle

    import torch
    from helpers import make_tiny_toy_data
    toy_cfg = osp.join(ROOT, 'configs', 'toy',
                       'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
    make_tiny_toy_data(tmp_path, cls=(12, 30, 64))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('LOCAL_RANK', '0')  # what test.py would set
    ckpt = tmp_path / 'toy.pth'
    save_checkpoint(toy_cfg, ckpt)
    onnx_path = tmp_path / 'toy.onnx'
    code, _, err = run_tool_in_process(
        TOOL, [toy_cfg, ckpt, '--out', onnx_path, '--shape', 64,
               '--dynamic-batch'], capsys)
    assert code == 0, err[-2000:]
    fast = ['--cfg-options', 'test_dataloader.num_workers=0',
            'test_dataloader.batch_size=7']
    runs = {}
    out = tmp_path / 'onnx.pkl'
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'deployment', 'test_onnx.py'),
         toy_cfg, str(onnx_path), '--out', str(out), *fast],
        cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out, 'rb') as f:  # written by this test: trusted
        runs['onnx'] = (parse_metrics(proc.stdout), pickle.load(f))
    out = tmp_path / 'torch.pkl'
    threads = torch.get_num_threads()
    code, stdout, err = run_tool_in_process(
        osp.join(ROOT, 'tools', 'test.py'),
        [toy_cfg, ckpt, '--work-dir', tmp_path / 'wd', '--out', out, *fast],
        capsys)
    torch.set_num_threads(threads)
    assert code == 0, err[-2000:]
    with open(out, 'rb') as f:  # written by this test: trusted
        runs['torch'] = (parse_metrics(stdout), pickle.load(f))
    assert runs['onnx'][0] == runs['torch'][0]
    onnx_preds, torch_preds = runs['onnx'][1], runs['torch'][1]
    assert len(onnx_preds) == len(torch_preds) == 30
    for a, b in zip(onnx_preds, torch_preds):
        assert a['img_path'] == b['img_path']
        assert (a['pred_score'] - b['pred_score']).abs().max() < 1e-4
