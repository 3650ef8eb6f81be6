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
