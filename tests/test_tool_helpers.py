"""What the tools share, in one place in the package: reading a config
(task, model, data preprocessor, data set size, a shortened schedule),
the ``metrics {...}`` line, one-line argument errors, and an exported
file's input (:class:`mmshuffle.deploy.metadata.InputSpec`)."""
import json
import os.path as osp

import numpy as np
import pytest
from helpers import make_tiny_toy_data
from mmengine.config import Config

from mmshuffle.analysis.toy_table import toy_det_configs
from mmshuffle.deploy.metadata import InputSpec
from mmshuffle.engine.cli import (OneLineArgumentParser, format_metrics,
                                  parse_metrics)
from mmshuffle.engine.configs import (build_data_preprocessor,
                                      dataset_length, shorten_schedule,
                                      task_of)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY = osp.join(ROOT, 'configs', 'toy')
DET = osp.join(TOY, 'rtmdet-lite_shufflenet-v2-1x_320_toy-det.py')
CLS = osp.join(TOY, 'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')


def test_shorten_schedule_ends_the_epoch_schedulers_with_the_run():
    cfg = Config.fromfile(DET)
    assert shorten_schedule(cfg, 6) == {
        'train_cfg.max_epochs': 6, 'train_cfg.val_interval': 6,
        'param_scheduler.1.end': 6}
    cfg.merge_from_dict(shorten_schedule(cfg, 6))
    assert cfg.train_cfg.max_epochs == 6
    warmup, cosine = cfg.param_scheduler
    assert (warmup.by_epoch, warmup.end) == (False, 100)  # iterations
    assert (cosine.type, cosine.end) == ('CosineAnnealingLR', 6)


@pytest.mark.parametrize('config', toy_det_configs() + [CLS],
                         ids=lambda p: osp.basename(p)[:-3])
def test_shorten_schedule_fits_every_toy_config(config):
    """Every toy config ends its epoch-based decay at max_epochs, so a
    shortened run compresses it (the toy table's budget)."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    options = shorten_schedule(cfg, 4)
    ends = [k for k in options if k.startswith('param_scheduler')]
    assert ends, options
    cfg.merge_from_dict(options)
    for sched in cfg.param_scheduler:
        if sched.get('by_epoch', True):
            assert sched.end == 4


def test_shorten_schedule_refuses_what_it_cannot_shorten():
    with pytest.raises(ValueError, match='epochs must be an int >= 1, got 0'):
        shorten_schedule(Config.fromfile(DET), 0)
    iters = Config(dict(train_cfg=dict(by_epoch=False, max_iters=100)))
    with pytest.raises(ValueError, match='does not train by epochs'):
        shorten_schedule(iters, 2)
    late = Config(dict(
        train_cfg=dict(max_epochs=12),
        param_scheduler=dict(type='CosineAnnealingLR', begin=8, end=12)))
    with pytest.raises(ValueError, match=r'param_scheduler \('
                       r'CosineAnnealingLR\) begins at epoch 8'):
        shorten_schedule(late, 4)
    single = Config(dict(
        train_cfg=dict(max_epochs=12),
        param_scheduler=dict(type='CosineAnnealingLR', begin=0, end=12)))
    assert shorten_schedule(single, 3)['param_scheduler.end'] == 3


def test_task_and_data_preprocessor_of_a_config():
    det, cls = Config.fromfile(DET), Config.fromfile(CLS)
    assert (task_of(det), task_of(cls)) == ('detection', 'classification')
    with pytest.raises(ValueError, match="default_scope 'mmseg'"):
        task_of(Config(dict(default_scope='mmseg')))
    pre = build_data_preprocessor(det)
    assert type(pre).__name__ == 'DetDataPreprocessor'
    pre = build_data_preprocessor(cls)  # the config's top-level one
    assert type(pre).__name__ == 'ClsDataPreprocessor'
    assert pre.mean.flatten().tolist() == pytest.approx(
        cls.data_preprocessor.mean)
    bare = Config(dict(default_scope='mmpretrain', model=dict()))
    assert type(build_data_preprocessor(bare)).__name__ == \
        'ClsDataPreprocessor'


def test_dataset_length_counts_the_files(tmp_path, monkeypatch):
    make_tiny_toy_data(tmp_path, det=(5, 3, 64))
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(DET)
    assert dataset_length(cfg) == 5
    assert dataset_length(cfg, 'val_dataloader') == 3


def test_metrics_line_round_trip():
    line = format_metrics({'coco/bbox_mAP': 0.123456, 'note': object})
    assert line.startswith('metrics {')
    out = f'noise\n{format_metrics({"a": 1})}\nmore\n{line}\n'
    metrics = parse_metrics(out)
    assert metrics['coco/bbox_mAP'] == 0.1235
    assert metrics['note'] == str(object)
    with pytest.raises(ValueError, match='no metrics line'):
        parse_metrics('nothing here')


def test_one_line_argument_errors(capsys):
    parser = OneLineArgumentParser()
    parser.add_argument('--runs', type=int)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(['--runs', 'x'])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('error: argument --runs')


def test_input_spec_feeds_raw_and_normalised_graphs():
    meta = {'raw_input': 'true', 'mean': json.dumps([1.0, 2.0, 3.0]),
            'std': json.dumps([2.0, 2.0, 2.0]), 'bgr_to_rgb': 'true',
            'size_divisor': '32'}
    x = np.arange(2 * 3 * 32 * 64, dtype=np.float64).reshape(2, 3, 32, 64)
    raw = InputSpec(meta).to_graph(x)
    assert raw.dtype == np.float32 and raw.flags['C_CONTIGUOUS']
    expected = (x * 2 + np.array([1.0, 2.0, 3.0])[None, :, None, None])
    np.testing.assert_allclose(raw, expected[:, ::-1], rtol=1e-6)
    plain = InputSpec({}).to_graph(x)
    np.testing.assert_array_equal(plain, x.astype(np.float32))
    InputSpec(meta).check_size((1, 3, 64, 32))
    with pytest.raises(ValueError, match='input size 64x40 is not '
                       'divisible by 32'):
        InputSpec(meta).check_size((1, 3, 64, 40))


def test_calibration_images_are_a_seeded_draw_of_the_val_set(
        tmp_path, monkeypatch):
    """quantize.py's calibration: ``count`` val images through the test
    pipeline and data preprocessor (what the deployed model sees: no
    augmentation), the same for the same seed, as the graph takes them
    (raw pixels where its metadata says so), or the images of a folder;
    the caller's random state is left as it was."""
    import random

    import torch
    from helpers import LITE

    from mmshuffle.apis.inference import prepare_image, test_pipeline
    from mmshuffle.deploy.quantize import calibration_images
    from mmshuffle.deploy.standalone import read_image
    make_tiny_toy_data(tmp_path, det=(2, 6, 64))
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(LITE)
    plain = {'task': 'detection'}
    states = (random.getstate(), np.random.get_state()[1].copy(),
              torch.get_rng_state())
    first = calibration_images(cfg, 3, 0, plain)
    assert random.getstate() == states[0]
    assert (np.random.get_state()[1] == states[1]).all()
    assert torch.equal(torch.get_rng_state(), states[2])
    again = calibration_images(cfg, 3, 0, plain)
    other = calibration_images(cfg, 3, 1, plain)
    assert len(first) == 3
    for image in first:
        assert image.dtype == np.float32 and image.shape[:2] == (1, 3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(a.shape == b.shape and np.array_equal(a, b)
                   for a, b in zip(first, other))
    # each is a val image exactly as the test pipeline and the data
    # preprocessor make it
    pipeline, pre = test_pipeline(cfg), build_data_preprocessor(cfg)
    val = sorted((tmp_path / 'data' / 'toy_det' / 'val').glob('*.png'))
    expected = []
    for path in val:
        data = prepare_image(pipeline, read_image(str(path)), str(path))
        expected.append(pre(dict(inputs=[data['inputs']],
                                 data_samples=[data['data_samples']]),
                            False)['inputs'].numpy())
    for image in first:
        assert any(np.array_equal(image, e) for e in expected)
    folder = calibration_images(cfg, 4, 0, plain,
                                str(tmp_path / 'data' / 'toy_det' / 'val'))
    assert len(folder) == 4
    assert all(np.array_equal(a, b) for a, b in zip(folder, expected))
    raw_meta = dict(plain, raw_input='true', bgr_to_rgb='false',
                    mean=json.dumps([123.675, 116.28, 103.53]),
                    std=json.dumps([58.395, 57.12, 57.375]))
    raw = calibration_images(cfg, 3, 0, raw_meta)
    spec = InputSpec(raw_meta)
    for image, pixels in zip(first, raw):
        np.testing.assert_allclose(pixels, image * spec.std + spec.mean,
                                   rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match='the val set has only 6 '
                       'images, fewer than the 7 asked for'):
        calibration_images(cfg, 7, 0, plain)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='holds no images'):
        calibration_images(cfg, 7, 0, plain, str(tmp_path / 'empty'))


def test_classification_session_splits_by_the_exported_batch(tmp_path):
    """A file exported for batch 1 runs a batch of 3 in three calls and
    gives the classifier's logits; images of another size than the export
    are refused with the sizes named."""
    import copy

    import torch

    from mmshuffle.deploy.onnx import ClassifierForExport, export_onnx
    from mmshuffle.deploy.runtime import ClassificationSession, load_runtime
    from mmshuffle.models.classifier import build_classifier
    model = build_classifier(dict(type='mmshuffle.ShuffleNetV2',
                                  widen_factor=0.5), num_classes=4).eval()
    path = str(tmp_path / 'cls.onnx')
    export_onnx(ClassifierForExport(copy.deepcopy(model)), path, (32, 32),
                output_names=['logits'])
    session = ClassificationSession(load_runtime(path))
    assert session.fixed_batch == 1
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32))
    logits = session(x)
    with torch.no_grad():
        expected = model(torch.from_numpy(x).float(), mode='tensor')
    assert logits.shape == (3, 4) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, expected.numpy(), atol=1e-4)
    with pytest.raises(ValueError, match=r'the test pipeline gives \(64, '
                       r'64\) images but the model was exported for '
                       r'\(32, 32\)'):
        session(np.zeros((1, 3, 64, 64), np.float32))


def test_build_model_gives_a_classifier_its_top_level_preprocessor():
    """mmpretrain's configs put data_preprocessor at the top level; the
    Runner hands it to the model, and so must build_model (infer.py's
    PyTorch path normalises with the model's own)."""
    from mmshuffle.engine.configs import build_model
    cfg = Config.fromfile(CLS)
    pre = build_model(cfg, pretrained=False).data_preprocessor
    assert pre.mean.flatten().tolist() == pytest.approx(
        list(cfg.data_preprocessor.mean))
    assert pre.std.flatten().tolist() == pytest.approx(
        list(cfg.data_preprocessor.std))
    assert pre.to_rgb
