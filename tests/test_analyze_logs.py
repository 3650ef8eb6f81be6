"""tools/analysis_tools/analyze_logs.py draws the curves of mmengine's scalar
logs (synthetic ones here; the demo's real ones when a make demo left
them)."""
import glob
import importlib.util
import json
import os.path as osp
import sys

import pytest

from mmshuffle.analysis.logs import (curves, default_keys, find_scalars,
                                     load_scalars, plot_curves)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PNG = b'\x89PNG\r\n\x1a\n'


def load_tool():
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'analyze_logs.py')
    spec = importlib.util.spec_from_file_location('analyze_logs', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_log(work_dir, stamp, records):
    run = work_dir / stamp / 'vis_data'
    run.mkdir(parents=True)
    with open(run / 'scalars.json', 'w') as f:
        for r in records:
            f.write(json.dumps(r) + '\n')
    return run / 'scalars.json'


def epoch_run(epochs=3, iters=4, metric='accuracy/top1'):
    records, it = [], 0
    for epoch in range(1, epochs + 1):
        for _ in range(iters):
            it += 1
            records.append(dict(lr=0.1, loss=2.0 / it, loss_cls=1.0 / it,
                                epoch=epoch, iter=it, step=it))
        records.append({metric: 10.0 * epoch, 'data_time': 0.01,
                        'step': epoch})
    return records


def test_reads_train_and_val_records(tmp_path):
    path = write_log(tmp_path, '20260101_000000', epoch_run())
    train, val = load_scalars(str(path))
    assert len(train) == 12 and len(val) == 3
    assert default_keys(train, val) == ['loss', 'accuracy/top1']
    data = curves(train, val, ['loss', 'accuracy/top1'])
    assert data['loss'][0] == 'iteration'
    assert data['loss'][1] == list(range(1, 13))
    assert data['accuracy/top1'] == ('epoch', [1, 2, 3], [10.0, 20.0, 30.0])


def test_newest_run_of_a_work_dir(tmp_path):
    write_log(tmp_path, '20260101_000000', epoch_run(epochs=1))
    newest = write_log(tmp_path, '20260102_000000', epoch_run(epochs=2))
    assert find_scalars(str(tmp_path)) == str(newest)
    assert find_scalars(str(newest.parent.parent)) == str(newest)


def test_iteration_based_validation_is_per_iteration(tmp_path):
    records = [dict(loss=1.0, iter=i, step=i) for i in range(1, 5)]
    records.append({'coco/bbox_mAP': 0.5, 'step': 4})
    path = write_log(tmp_path, '20260101_000000', records)
    data = curves(*load_scalars(str(path)), ['coco/bbox_mAP'])
    assert data['coco/bbox_mAP'] == ('iteration', [4], [0.5])


def test_plot_writes_a_png(tmp_path):
    write_log(tmp_path, '20260101_000000',
              epoch_run(metric='coco/bbox_mAP'))
    out = tmp_path / 'curves.png'
    data = plot_curves(str(tmp_path), str(out), title='toy')
    assert sorted(data) == ['coco/bbox_mAP', 'loss']
    assert out.read_bytes()[:8] == PNG


def test_cli_default_output_and_chosen_keys(tmp_path, capsys):
    write_log(tmp_path, '20260101_000000', epoch_run())
    tool = load_tool()
    out = tool.main([str(tmp_path), '--keys', 'loss_cls', 'lr'])
    assert out == osp.join(str(tmp_path), 'curves.png')
    assert open(out, 'rb').read(8) == PNG
    printed = capsys.readouterr().out
    assert 'loss_cls: 12 points' in printed and 'written to' in printed


def test_cli_errors_name_the_problem(tmp_path):
    tool = load_tool()
    with pytest.raises(SystemExit, match='no scalar log in'):
        tool.main([str(tmp_path)])
    write_log(tmp_path, '20260101_000000', epoch_run())
    with pytest.raises(SystemExit, match="'mAP' is not in the log"):
        tool.main([str(tmp_path), '--keys', 'mAP'])


def test_demo_draws_the_curves_of_a_work_dir(tmp_path, capsys):
    path = osp.join(ROOT, 'tools', 'misc', 'demo.py')
    spec = importlib.util.spec_from_file_location('demo', path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    write_log(tmp_path, '20260101_000000', epoch_run())
    out = demo.draw_curves(sys.executable, str(tmp_path), 'classifier')
    assert out == str(tmp_path / 'curves.png')
    assert open(out, 'rb').read(8) == PNG


@pytest.mark.slow
def test_real_run_with_tensorboard_as_documented(tmp_path):
    """A short toy training with the TensorBoard snippet of docs/logs.md
    writes scalars.json and TensorBoard events, and its curves draw."""
    import os
    import re
    import subprocess

    from helpers import make_tiny_toy_data
    make_tiny_toy_data(tmp_path, cls=(16, 8, 32))
    logs_md = open(osp.join(ROOT, 'docs', 'logs.md')).read()
    (snippet, ) = [b for b in re.findall(r'```python\n(.*?)```', logs_md,
                                         flags=re.S)
                   if 'TensorboardVisBackend' in b]
    toy = osp.join(ROOT, 'configs', 'toy',
                   'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
    (tmp_path / 'tb_config.py').write_text(f'_base_ = {toy!r}\n' + snippet)
    work_dir = tmp_path / 'run'
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), 'tb_config.py', '--work-dir',
        str(work_dir), '--cfg-options', 'train_cfg.max_epochs=2',
        'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
        'val_dataloader.num_workers=0', 'train_cfg.val_interval=1',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.save_best=None'
    ], cwd=str(tmp_path), capture_output=True, text=True,
        env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (vis_data, ) = glob.glob(str(work_dir / '*' / 'vis_data'))
    assert glob.glob(osp.join(vis_data, 'events.out.tfevents.*'))
    out = tmp_path / 'curves.png'
    data = plot_curves(str(work_dir), str(out))
    assert sorted(data) == ['accuracy/top1', 'loss']
    assert data['accuracy/top1'][:2] == ('epoch', [1, 2])
    assert len(data["loss"][1]) == 4   # 16 images / 8 per batch x 2 epochs
    assert out.read_bytes()[:8] == PNG
