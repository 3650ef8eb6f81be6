"""The standalone program (mmshuffle/deploy/standalone.py, run as
tools/deployment/standalone_infer.py): exported files describe their pre-
and post-processing, and onnxruntime + numpy + Pillow alone give the
predictions of tools/infer.py, without importing PyTorch or OpenMMLab."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from helpers import (LITE, make_tiny_toy_data, real_files,
                     run_tool_in_process)
from mmengine.config import Config
from PIL import Image

from mmshuffle.deploy import standalone
from mmshuffle.deploy.metadata import (describe_pipeline, read_metadata,
                                       set_metadata)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'deployment', 'standalone_infer.py')
INFER = osp.join(ROOT, 'tools', 'infer.py')
EXPORT = osp.join(ROOT, 'tools', 'deployment', 'pytorch2onnx.py')
CLS_CFG = osp.join(ROOT, 'configs', 'toy',
                   'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
#: what every exported classifier and detector says about itself
DESCRIBED = ('task', 'metadata_version', 'mmshuffle_version', 'config',
             'pipeline', 'mean', 'std', 'bgr_to_rgb', 'raw_input',
             'size_divisor', 'pad_value', 'classes', 'palette', 'outputs')
FORBIDDEN = ('torch', 'mmcv', 'mmengine', 'mmdet', 'mmpretrain',
             'mmshuffle', 'cv2')


def test_bilinear_resize_is_opencvs_bit_for_bit():
    """Down, up, one axis, exactly 2x, to and from one pixel: the numpy
    resize gives OpenCV's INTER_LINEAR bytes (fixed-point weights, the
    vectorised pass's rounding, clamped rows at the borders)."""
    rng = np.random.default_rng(0)
    sizes = [((200, 300), (100, 150)), ((100, 150), (200, 300)),
             ((7, 9), (21, 27)), ((1, 1), (5, 5)), ((5, 5), (1, 1)),
             ((480, 640), (320, 427)), ((51, 338), (400, 328))]
    sizes += [(tuple(rng.integers(1, 300, 2)), tuple(rng.integers(1, 400, 2)))
              for _ in range(40)]
    for (src_h, src_w), (dst_h, dst_w) in sizes:
        img = rng.integers(0, 256, (src_h, src_w, 3), dtype=np.uint8)
        expected = cv2.resize(img, (int(dst_w), int(dst_h)),
                              interpolation=cv2.INTER_LINEAR)
        got = standalone.resize_bilinear(img, int(dst_w), int(dst_h))
        assert got.dtype == np.uint8 and got.shape == expected.shape
        assert np.array_equal(got, expected), ((src_h, src_w),
                                               (dst_h, dst_w))


# one config per kind of test pipeline and data preprocessor
PIPELINE_CONFIGS = [
    'configs/toy/retinanet-lite_shufflenet-v2-1x_lite-fpn_toy-det.py',
    'configs/rtmdet_lite/rtmdet-lite_shufflenet-v2-1x_320_coco.py',
    'configs/ssdlite/ssdlite_mobilenet-v2-1x_320_coco.py',
    'configs/faster_rcnn/faster-rcnn_shufflenet-v1-1x-g3_fpn_1x_coco.py',
    'configs/shufflenet_v2/shufflenet-v2-1x_16xb64_in1k.py',
    'configs/shufflenet_v2_plus/shufflenet-v2-plus-small_megvii-in1k.py',
    CLS_CFG,
]


@pytest.mark.parametrize('config', PIPELINE_CONFIGS,
                         ids=lambda c: osp.basename(c)[:-3])
def test_pipeline_and_preprocessing_equal_the_configs_own(config):
    """On images of odd sizes and both orientations, the metadata's steps
    and the preprocessor's normalisation give the tensor, img_shape and
    scale_factor that the config's own test pipeline and data
    preprocessor give (as tools/infer.py runs them), exactly."""
    from mmshuffle.apis.inference import test_pipeline
    from mmshuffle.deploy.metadata import preprocessor_metadata
    from mmshuffle.engine.configs import build_data_preprocessor
    cfg = Config.fromfile(osp.join(ROOT, config))
    pipeline = test_pipeline(cfg)
    pre = build_data_preprocessor(cfg)
    steps = describe_pipeline(cfg.test_dataloader.dataset.pipeline)
    assert all(s['type'] in standalone.PIPELINE_STEPS for s in steps), steps
    meta = dict(preprocessor_metadata(pre),
                size_divisor=str(getattr(pre, 'pad_size_divisor', 1)))
    spec = standalone.InputSpec(meta)
    rng = np.random.default_rng(1)
    for height, width in ((389, 517), (613, 300), (97, 161), (96, 96)):
        bgr = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        data = pipeline(dict(img=bgr.copy(), img_path='x.png', img_id=0,
                             img_shape=(height, width),
                             ori_shape=(height, width)))
        batch = pre(dict(inputs=[data['inputs']],
                         data_samples=[data['data_samples']]), False)
        geometry = standalone.run_pipeline(bgr, steps)
        got = spec.normalise(geometry.img)
        expected = batch['inputs'].float().numpy()
        assert got.shape == expected.shape, (config, height, width)
        assert np.array_equal(got, expected), (config, height, width)
        sample = batch['data_samples'][0]
        if 'img_shape' in sample.metainfo:
            assert tuple(sample.img_shape) == geometry.img_shape
        factor = sample.metainfo.get('scale_factor')
        if factor is not None:
            assert tuple(factor) == geometry.scale_factor


def test_unsupported_steps_are_named():
    steps = describe_pipeline([
        dict(type='LoadImageFromFile'), dict(type='RandomFlip', prob=0.5),
        dict(type='Resize', scale=(320, 320), keep_ratio=True),
        dict(type='PackDetInputs')])
    assert steps[0] == dict(type='unsupported', name='RandomFlip')
    assert steps[1]['type'] == 'resize' and steps[1]['backend'] == 'cv2'
    with pytest.raises(ValueError, match="'RandomFlip'.*tools/infer.py"):
        standalone.run_pipeline(np.zeros((4, 4, 3), np.uint8), steps)
    with pytest.raises(ValueError, match="cv2 'bicubic'"):
        standalone.resize(np.zeros((4, 4, 3), np.uint8), 2, 2, 'bicubic',
                          'cv2')


def run_standalone(args, cwd):
    """The tool in a fresh interpreter: (process, the modules it had
    imported when it ended)."""
    code = ('import json, runpy, sys\n'
            f'sys.argv = {[TOOL, *map(str, args)]!r}\n'
            'try:\n'
            f'    runpy.run_path({TOOL!r}, run_name="__main__")\n'
            'finally:\n'
            '    sys.stdout.write("\\nMODULES " + json.dumps(sorted('
            'sys.modules)))\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=cwd,
                          capture_output=True, text=True)
    out, _, modules = proc.stdout.rpartition('\nMODULES ')
    proc.stdout = out
    return proc, json.loads(modules)


def assert_standalone(modules):
    loaded = [m for m in modules if m.split('.')[0] in FORBIDDEN]
    assert not loaded, loaded
    assert 'onnxruntime' in modules and 'PIL.Image' in modules


def predictions(folder):
    return json.loads((folder / 'predictions.json').read_text())


@pytest.mark.slow
def test_standalone_detector_gives_infer_py_predictions(tmp_path, capsys,
                                                        monkeypatch,
                                                        lite_export):
    """The toy RetinaNet-lite exported by pytorch2onnx.py: its metadata
    describes it whole; on real files (EXIF-rotated, CMYK, 16-bit,
    palette, odd sizes resized up and down) standalone_infer.py, which
    imports neither PyTorch nor any OpenMMLab package, gives the
    predictions and pictures of infer.py with the same file, number for
    number (infer.py's against PyTorch's: tests/test_infer.py); bad files
    are skipped with one line each and exit 1."""
    make_tiny_toy_data(tmp_path, det=(1, 2, 160))
    monkeypatch.chdir(tmp_path)
    _, ckpt, _ = lite_export
    onnx_path = tmp_path / 'lite.onnx'
    code, out, err = run_tool_in_process(EXPORT, [
        LITE, ckpt, '--out', onnx_path, '--check-images', '0'], capsys)
    assert code == 0, err[-2000:]
    meta = read_metadata(str(onnx_path))
    assert set(DESCRIBED) <= set(meta), set(DESCRIBED) - set(meta)
    assert meta['config'] == osp.basename(LITE)
    assert meta['classes'] == '["circle", "square", "triangle", "star"]'
    assert json.loads(meta['pipeline']) == [dict(
        type='resize', scale=[320, 320], keep_ratio=True,
        interpolation='bilinear', backend='cv2')]
    assert {'max_per_img', 'score_thr', 'iou_thr'} <= set(meta)

    val = tmp_path / 'data' / 'toy_det' / 'val'
    images = tmp_path / 'images'
    rgb = real_files(images, next(val.glob('*.png')))
    Image.fromarray(rgb).resize((517, 389)).save(images / 'i_wide.jpg')
    Image.fromarray(rgb).resize((97, 161)).save(images / 'j_small.png')
    code, _, err = run_tool_in_process(INFER, [
        LITE, onnx_path, images, '--out-dir', tmp_path / 'infer'], capsys)
    assert code == 1, err[-2000:]  # the three bad files
    torch.set_num_threads(2)  # infer.py sets the thread count
    proc, modules = run_standalone(
        [onnx_path, images, '--out-dir', tmp_path / 'standalone'],
        cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert_standalone(modules)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith(
        'error:')]
    assert len(errors) == 3, proc.stderr
    assert '7 image(s) with onnxruntime (standalone)' in proc.stdout
    ours = predictions(tmp_path / 'standalone')
    assert ours['task'] == 'detection' and ours['failed'] == 3
    reference = predictions(tmp_path / 'infer')['predictions']
    done = [r for r in ours['predictions'] if 'error' not in r]
    assert len(done) == 7 and sum(len(r['detections']) for r in done) > 50
    for mine, theirs in zip(ours['predictions'], reference):
        assert mine['image'] == theirs['image']
        for key in ('detections', 'size', 'read', 'error'):
            assert mine.get(key) == theirs.get(key), (mine['image'], key)
        if 'picture' in mine:
            assert np.array_equal(np.asarray(Image.open(mine['picture'])),
                                  np.asarray(Image.open(theirs['picture'])))



@pytest.mark.slow
def test_standalone_classifier_and_bad_input(tmp_path, capsys, monkeypatch):
    """A toy classifier exported by pytorch2onnx.py (mean, std, channel
    order from the config's top-level data_preprocessor): standalone and
    infer.py (onnxruntime and PyTorch) give the same top-5; a file without
    metadata, a pipeline step it does not run and bad arguments are one
    line each, exit 2."""
    from mmshuffle.engine.configs import build_model
    make_tiny_toy_data(tmp_path, cls=(6, 6, 64))
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(CLS_CFG)
    model = build_model(cfg, pretrained=False)
    model.init_weights()
    ckpt = tmp_path / 'cls.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': {
        'classes': list(cfg.classes)}}}, ckpt)
    onnx_path = tmp_path / 'cls.onnx'
    code, _, err = run_tool_in_process(EXPORT, [
        CLS_CFG, ckpt, '--out', onnx_path, '--shape', 64], capsys)
    assert code == 0, err[-2000:]
    meta = read_metadata(str(onnx_path))
    assert set(DESCRIBED) <= set(meta)
    assert meta['task'] == 'classification' and meta['input_hw'] == '[64, 64]'
    assert json.loads(meta['mean']) == pytest.approx(
        list(cfg.data_preprocessor.mean))
    assert meta['bgr_to_rgb'] == 'true'
    images = sorted((tmp_path / 'data' / 'toy_shapes' / 'val').rglob(
        '*.png'))[:4]
    tops = {}
    for backend, weights in (('onnxruntime', onnx_path), ('pytorch', ckpt)):
        code, _, err = run_tool_in_process(INFER, [
            CLS_CFG, weights, *images, '--out-dir', tmp_path / backend],
            capsys)
        assert code == 0, err[-2000:]
        tops[backend] = [r['top5'] for r in predictions(
            tmp_path / backend)['predictions']]
    torch.set_num_threads(2)
    proc, modules = run_standalone(
        [onnx_path, *images, '--out-dir', tmp_path / 'standalone'],
        cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_standalone(modules)
    ours = [r['top5'] for r in predictions(
        tmp_path / 'standalone')['predictions']]
    assert ours == tops['onnxruntime']
    for mine, theirs in zip(ours, tops['pytorch']):
        assert [t['label'] for t in mine] == [t['label'] for t in theirs]
        assert max(abs(a['score'] - b['score'])
                   for a, b in zip(mine, theirs)) < 1e-4

    import onnx
    bare = onnx.load(str(onnx_path))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / 'bare.onnx'))
    flipped = onnx.load(str(onnx_path))
    set_metadata(flipped, {'pipeline': json.dumps(describe_pipeline(
        [dict(type='RandomFlip', prob=0.5)]))})
    onnx.save(flipped, str(tmp_path / 'flip.onnx'))
    cases = [
        ((tmp_path / 'bare.onnx', images[0]), 'no mmshuffle classifier or '
         'detector metadata'),
        ((tmp_path / 'flip.onnx', images[0]), "does not run: 'RandomFlip'"),
        ((tmp_path / 'missing.onnx', images[0]), 'does not exist'),
        ((onnx_path, tmp_path / 'missing.png'), 'does not exist'),
        ((onnx_path, images[0], '--score-thr', 2), '--score-thr'),
    ]
    for args, message in cases:
        code, _, err = run_tool_in_process(TOOL_MODULE, args, capsys)
        assert code == 2, (args, err[-2000:])
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('error:'), lines
        assert message in lines[0], (args, lines[0])


TOOL_MODULE = osp.join(ROOT, 'mmshuffle', 'deploy', 'standalone.py')


def test_the_program_imports_only_numpy_pillow_and_onnxruntime():
    """The one file a user copies: the standard library, numpy, Pillow and
    onnxruntime, nothing relative (the process check is in the tests
    above)."""
    import ast
    tree = ast.parse(open(TOOL_MODULE).read())
    imports = [n for n in ast.walk(tree)
               if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not [n for n in imports if getattr(n, 'level', 0)]
    names = {a.name.split('.')[0] for n in imports
             if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split('.')[0] for n in imports
              if isinstance(n, ast.ImportFrom)}
    assert names - set(sys.stdlib_module_names) == {
        'numpy', 'PIL', 'onnxruntime'}
