"""End to end through the real CLIs, from a directory outside the repo:
train -> checkpoint -> test -> resume -> config override, and the clear
errors of the tools."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from helpers import make_tiny_toy_data

from mmshuffle.engine.cli import parse_metrics


ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(ROOT, 'tools', 'train.py')
TEST = osp.join(ROOT, 'tools', 'test.py')
TOY_V2 = osp.join(ROOT, 'configs', 'toy',
                  'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
TOY_MNV2 = osp.join(ROOT, 'configs', 'toy',
                    'mobilenet-v2-1x_1xb64-30e_toy-shapes.py')
# a few seconds per run on 2 cores: tiny data, few iterations
FAST = [
    'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
    'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
    'train_cfg.val_interval=1', 'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.save_best=None',
    'default_hooks.checkpoint.max_keep_ckpts=-1'
]

pytestmark = pytest.mark.slow


def run(args, cwd, check=True):
    proc = subprocess.run([sys.executable] + args,
                          cwd=cwd,
                          capture_output=True,
                          text=True,
                          env=dict(os.environ, PYTHONWARNINGS='ignore'))
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


def metrics_of(proc):
    return parse_metrics(proc.stdout)


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A directory outside the repo with the toy data at the configs'
    default path (data/toy_shapes)."""
    ws = tmp_path_factory.mktemp('ws')
    make_tiny_toy_data(ws, cls=(48, 24, 64))
    return ws


@pytest.fixture(scope='module')
def trained(workspace):
    work_dir = workspace / 'run'
    proc = run([
        TRAIN, TOY_V2, '--work-dir',
        str(work_dir), '--cfg-options', 'train_cfg.max_epochs=2'
    ] + FAST, cwd=workspace)
    return work_dir, proc


def test_train_writes_checkpoints_and_applies_overrides(trained):
    work_dir, proc = trained
    for name in ('epoch_1.pth', 'epoch_2.pth', 'last_checkpoint'):
        assert (work_dir / name).is_file(), name
    # --cfg-options took effect: 48 images / batch 8 = 6 iterations
    log = proc.stdout + proc.stderr
    assert re.search(r'Epoch\(train\) +\[1\]\[6/6\]', log), log[-2000:]
    # the checkpoint loads with torch's weights-only unpickler
    ckpt = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 2
    assert any(k.startswith('backbone.layers.3.') for k in ckpt['state_dict'])


def test_test_tool_prints_accuracy_and_dumps(trained, workspace):
    work_dir, _ = trained
    out = workspace / 'preds.pkl'
    proc = run([
        TEST, TOY_V2,
        str(work_dir / 'epoch_2.pth'), '--work-dir',
        str(workspace / 'test_run'), '--out',
        str(out), '--cfg-options', 'test_dataloader.num_workers=0'
    ], cwd=workspace)
    metrics = metrics_of(proc)
    # the printed top-1 is the one of the dumped predictions: recount it
    # from every image's predicted and true label
    import pickle
    with open(out, 'rb') as f:  # written by this test: trusted
        preds = pickle.load(f)
    assert len(preds) == 24  # every val image, once
    correct = [int(p['pred_label']) == int(p['gt_label']) for p in preds]
    assert metrics['accuracy/top1'] == pytest.approx(
        100 * sum(correct) / len(correct), abs=1e-3)
    # and each predicted label is the arg-max of its scores
    for p in preds:
        assert int(p['pred_label']) == int(p['pred_score'].argmax())


def test_test_tool_deploy_form_gives_the_same_predictions(trained,
                                                         workspace):
    import pickle
    work_dir, _ = trained
    scores = {}
    for name, extra in (('train_form', []), ('deploy', ['--deploy'])):
        out = workspace / f'preds_{name}.pkl'
        proc = run([
            TEST, TOY_V2,
            str(work_dir / 'epoch_2.pth'), '--work-dir',
            str(workspace / f'test_{name}'), '--out',
            str(out), '--cfg-options', 'test_dataloader.num_workers=0'
        ] + extra, cwd=workspace)
        metrics_of(proc)
        with open(out, 'rb') as f:  # written by this test: trusted
            scores[name] = torch.stack(
                [p['pred_score'] for p in pickle.load(f)])
    assert scores['deploy'].shape == scores['train_form'].shape
    assert (scores['deploy'] - scores['train_form']).abs().max() < 1e-4


def test_resume_continues_from_the_saved_epoch(trained, workspace):
    work_dir, _ = trained
    proc = run([
        TRAIN, TOY_V2, '--work-dir',
        str(work_dir), '--resume', '--cfg-options', 'train_cfg.max_epochs=3'
    ] + FAST, cwd=workspace)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 2, iter: 12' in log
    assert re.search(r'Epoch\(train\) +\[3\]', log)
    assert not re.search(r'Epoch\(train\) +\[1\]', log)
    assert (work_dir / 'epoch_3.pth').is_file()
    ckpt = torch.load(work_dir / 'epoch_3.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 3


def test_resume_without_checkpoint_is_an_error(workspace):
    proc = run([
        TRAIN, TOY_V2, '--work-dir',
        str(workspace / 'empty'), '--resume'
    ], cwd=workspace, check=False)
    assert proc.returncode == 2
    assert 'no checkpoint to resume from' in proc.stderr
    assert not (workspace / 'empty' / 'epoch_1.pth').exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')
def test_amp_without_gpu_is_an_error(workspace):
    proc = run([TRAIN, TOY_V2, '--amp'], cwd=workspace, check=False)
    assert proc.returncode == 2
    assert '--amp needs a CUDA GPU' in proc.stderr


def test_checkpoint_of_another_model_is_refused(trained, workspace):
    work_dir, _ = trained
    proc = run([
        TEST, TOY_MNV2,
        str(work_dir / 'epoch_2.pth'), '--work-dir',
        str(workspace / 'mismatch')
    ], cwd=workspace, check=False)
    assert proc.returncode == 2
    assert 'does not fit the model' in proc.stderr
    assert 'backbone.layer1' in proc.stderr  # names the missing keys
