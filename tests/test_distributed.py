"""Distributed training and testing through the real launch scripts
(tools/dist_train.sh, tools/dist_test.sh: torchrun, 2 processes), on CPU
with the gloo backend where there is no GPU."""
import json
import os
import os.path as osp
import pickle
import re
import socket
import subprocess
import sys

import pytest
import torch
from helpers import make_tiny_toy_data

from mmshuffle.engine.cli import METRICS_PREFIX, parse_metrics
from mmshuffle.engine.dist import (DistSetupError, _slurm_env,
                                   choose_backend)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TESTS = osp.join(ROOT, 'tests')
CLS_CFG = osp.join(ROOT, 'configs', 'toy',
                   'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
DET_CFG = osp.join(ROOT, 'configs', 'toy',
                   'retinanet_shufflenet-v2-1x_fpn_toy-det.py')
NUM_PROCS = 2
LOADERS = [
    'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
    'test_dataloader.num_workers=0', 'default_hooks.logger.interval=1'
]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def one_thread_env(**extra):
    """The environment of every process the tests start: one CPU thread,
    so that the single-process reference computes with the same kernels as
    each rank (oneDNN picks its convolution algorithm by thread count, and
    an untrained detector's near-equal scores reorder on the difference)."""
    return dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
                **extra)


def launch(args, cwd, check=True):
    """Run a shell script of tools/ with the test's interpreter, one CPU
    thread per process and a free port."""
    env = one_thread_env(
        PYTHON=sys.executable,
        PORT=str(free_port()),
        PYTHONWARNINGS='ignore',
        PYTHONPATH=os.pathsep.join(
            [TESTS, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


def metrics_of(proc):
    lines = [ln for ln in proc.stdout.splitlines()
             if ln.startswith(METRICS_PREFIX)]
    assert len(lines) == 1, proc.stdout[-2000:]  # printed by rank 0 only
    return parse_metrics(proc.stdout)


def probe_config(tmp_path, base, name):
    """``base`` plus a hook with which every rank reports its weights and
    the files it saved."""
    out = tmp_path / f'{name}_ranks'
    out.mkdir()
    path = tmp_path / f'{name}.py'
    path.write_text(
        f'_base_ = [{base!r}]\n'
        "custom_imports = dict(imports=['mmshuffle', 'ddp_probe'], "
        'allow_failed_imports=False)\n'
        "custom_hooks = [dict(type='mmshuffle.SafeCheckpointHook'), "
        f"dict(type='RankProbeHook', out_dir={str(out)!r})]\n")
    return str(path), out


def check_ranks_agree(ranks_dir, ckpt_path, expected_saves, all_buffers):
    """Every rank ends with the same parameters, which are the
    checkpoint's; only rank 0 wrote files, each checkpoint once."""
    states = [
        torch.load(ranks_dir / f'rank{r}.pth', weights_only=True)
        for r in range(NUM_PROCS)
    ]
    ckpt = torch.load(ckpt_path, weights_only=True)['state_dict']
    assert list(states[0]) == list(ckpt)
    params = [k for k in ckpt if not k.endswith(
        ('running_mean', 'running_var', 'num_batches_tracked'))]
    assert params
    for key in params:
        assert torch.equal(states[0][key], states[1][key]), key
    # the checkpoint is rank 0's model, buffers included
    for key, value in ckpt.items():
        assert torch.equal(states[0][key], value), key
    if all_buffers:  # no BatchNorm statistics updated: everything equal
        for key in ckpt:
            assert torch.equal(states[1][key], ckpt[key]), key
    saved = [
        json.loads((ranks_dir / f'rank{r}_saved.json').read_text())
        for r in range(NUM_PROCS)
    ]
    ckpts = [name for how, name in saved[0] if name.endswith('.pth')]
    assert ckpts == expected_saves, saved[0]
    written = {how for how, _ in saved[0]}
    # rank 0 wrote the checkpoints, the last_checkpoint marker and its logs
    assert ['atomic_write', 'last_checkpoint'] in saved[0], saved[0]
    assert {'put', 'atomic_write', 'log'} <= written, saved[0]
    assert any(name.endswith('.log') for how, name in saved[0]
               if how == 'log'), saved[0]
    # the other rank wrote nothing at all: no checkpoint, marker or log
    assert saved[1] == [], saved[1]


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp('dist')
    # odd numbers of val images: the padded last batch of one rank must
    # not be counted twice
    make_tiny_toy_data(ws, cls=(16, 7, 32), det=(8, 5, 64))
    return ws


@pytest.mark.slow
def test_classification_ddp_train_then_dist_test(workspace, tmp_path):
    cfg, ranks = probe_config(tmp_path, CLS_CFG, 'cls')
    work_dir = tmp_path / 'cls'
    proc = launch([
        osp.join(ROOT, 'tools', 'dist_train.sh'), cfg,
        str(NUM_PROCS), '--work-dir',
        str(work_dir), '--auto-scale-lr', '--cfg-options',
        'train_cfg.max_epochs=2',
        'train_dataloader.batch_size=4', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.save_best=None'
    ] + LOADERS, cwd=workspace)
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    # the config's base batch is 64; here 2 processes x 4 images
    assert ('LR is set based on batch size of 64 and the current batch '
            'size is 8. Scaling the original LR by 0.125') in log
    # 16 images, 2 processes x 4 images: 2 iterations per epoch
    assert re.search(r'Epoch\(train\) +\[2\]\[2/2\]', log), log[-2000:]
    check_ranks_agree(ranks, work_dir / 'epoch_2.pth',
                      ['epoch_1.pth', 'epoch_2.pth'], all_buffers=False)

    ckpt = str(work_dir / 'epoch_2.pth')
    single = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'test.py'), CLS_CFG, ckpt,
         '--work-dir', str(tmp_path / 'single'), '--out',
         str(tmp_path / 'single.pkl'), '--cfg-options'] + LOADERS,
        cwd=workspace, capture_output=True, text=True, env=one_thread_env())
    assert single.returncode == 0, single.stderr[-3000:]
    dist = launch([
        osp.join(ROOT, 'tools', 'dist_test.sh'), CLS_CFG, ckpt,
        str(NUM_PROCS), '--work-dir',
        str(tmp_path / 'dist'), '--out',
        str(tmp_path / 'dist.pkl'), '--cfg-options'
    ] + LOADERS, cwd=workspace)
    assert metrics_of(dist) == metrics_of(single)
    one = pickle.load(open(tmp_path / 'single.pkl', 'rb'))
    two = pickle.load(open(tmp_path / 'dist.pkl', 'rb'))
    assert len(one) == len(two) == 7
    for a, b in zip(one, two):
        assert a['img_path'] == b['img_path']
        torch.testing.assert_close(a['pred_score'], b['pred_score'])


@pytest.mark.slow
def test_detection_ddp_train_then_dist_test(workspace, tmp_path):
    cfg, ranks = probe_config(tmp_path, DET_CFG, 'det')
    work_dir = tmp_path / 'det'
    no_pretrained = 'model.backbone.init_cfg=None'
    proc = launch([
        osp.join(ROOT, 'tools', 'dist_train.sh'), cfg,
        str(NUM_PROCS), '--work-dir',
        str(work_dir), '--no-validate', '--cfg-options',
        'train_cfg.max_epochs=1', 'train_dataloader.batch_size=2',
        no_pretrained
    ] + LOADERS, cwd=workspace)
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    assert re.search(r'Epoch\(train\) +\[1\]\[2/2\]', log), log[-2000:]
    # the backbone's BatchNorms are frozen (norm_eval), FPN and head have
    # none: every tensor is the same on both ranks
    check_ranks_agree(ranks, work_dir / 'epoch_1.pth', ['epoch_1.pth'],
                      all_buffers=True)

    ckpt = str(work_dir / 'epoch_1.pth')
    # an untrained detector scores below the default threshold: keep every
    # box so the comparison has predictions to compare; one image per batch
    # so that both runs compute each image alike (near-equal scores of an
    # untrained model would otherwise swap places)
    opts = LOADERS + [
        no_pretrained, 'model.test_cfg.score_thr=0.0',
        'test_dataloader.batch_size=1'
    ]
    single = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'test.py'), DET_CFG, ckpt,
         '--work-dir', str(tmp_path / 'single'), '--out',
         str(tmp_path / 'single.pkl'), '--cfg-options'] + opts,
        cwd=workspace, capture_output=True, text=True, env=one_thread_env())
    assert single.returncode == 0, single.stderr[-3000:]
    dist = launch([
        osp.join(ROOT, 'tools', 'dist_test.sh'), DET_CFG, ckpt,
        str(NUM_PROCS), '--work-dir',
        str(tmp_path / 'dist'), '--out',
        str(tmp_path / 'dist.pkl'), '--cfg-options'
    ] + opts, cwd=workspace)
    metrics = metrics_of(dist)
    assert 'coco/bbox_mAP' in metrics
    assert metrics == metrics_of(single)
    one = pickle.load(open(tmp_path / 'single.pkl', 'rb'))
    two = pickle.load(open(tmp_path / 'dist.pkl', 'rb'))
    assert len(one) == len(two) == 5
    for a, b in zip(one, two):
        assert a['img_id'] == b['img_id']
        pa, pb = a['pred_instances'], b['pred_instances']
        assert len(pa['scores']) > 0
        torch.testing.assert_close(pa['bboxes'], pb['bboxes'])
        torch.testing.assert_close(pa['scores'], pb['scores'])


@pytest.mark.slow
def test_launcher_without_torchrun_environment_is_a_clear_error(
        workspace, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')}
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), CLS_CFG,
         '--launcher', 'pytorch', '--work-dir', str(tmp_path / 'wd')],
        cwd=workspace, capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert ('--launcher pytorch: environment variable(s) RANK, WORLD_SIZE, '
            'MASTER_ADDR, MASTER_PORT not set') in proc.stderr
    assert 'tools/dist_train.sh' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_backend_choice():
    auto = 'nccl' if torch.cuda.is_available() else 'gloo'
    assert choose_backend(None) == auto
    assert choose_backend({}) == auto
    assert choose_backend(dict(backend='auto')) == auto
    assert choose_backend(dict(backend='gloo')) == 'gloo'
    with pytest.raises(DistSetupError,
                       match=r"backend must be one of \['nccl', 'gloo', "
                       r"'mpi'\] or 'auto', but got 'ncl'"):
        choose_backend(dict(backend='ncl'))
    if not torch.cuda.is_available():
        with pytest.raises(DistSetupError,
                           match="backend='nccl' needs CUDA GPUs"):
            choose_backend(dict(backend='nccl'))


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')
def test_sync_bn_without_gpu_is_refused_up_front():
    from mmengine.config import Config

    from mmshuffle.engine.dist import check_sync_bn
    cfg = Config.fromfile(DET_CFG)
    check_sync_bn(cfg)
    cfg.model.backbone.norm_cfg = dict(type='SyncBN', requires_grad=True)
    with pytest.raises(DistSetupError,
                       match=r'SyncBN needs CUDA GPUs, but none is available '
                       r'\(model.backbone.norm_cfg\)'):
        check_sync_bn(cfg)
    cfg = Config.fromfile(DET_CFG)
    cfg.sync_bn = 'torch'
    with pytest.raises(DistSetupError, match=r"\(sync_bn='torch'\)"):
        check_sync_bn(cfg)


def test_slurm_variables_become_torch_ones(monkeypatch):
    # _slurm_env writes these into os.environ: set them through monkeypatch
    # first, so that it restores (or removes) them after the test
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_PORT'):
        monkeypatch.setenv(key, 'unset')
        monkeypatch.delenv(key)
    monkeypatch.setenv('SLURM_PROCID', '5')
    monkeypatch.setenv('SLURM_NTASKS', '8')
    monkeypatch.setenv('SLURM_LOCALID', '1')
    monkeypatch.setenv('SLURM_NODELIST', 'node[1-2]')
    monkeypatch.setenv('MASTER_ADDR', 'node1')  # no scontrol needed
    _slurm_env()
    assert (os.environ['RANK'], os.environ['WORLD_SIZE'],
            os.environ['LOCAL_RANK'], os.environ['MASTER_PORT']) == (
                '5', '8', '1', '29500')
    monkeypatch.delenv('SLURM_NTASKS')
    with pytest.raises(DistSetupError, match='SLURM_NTASKS not set'):
        _slurm_env()
