"""Train a model from an mmpretrain or mmdet config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options KEY=VALUE ...]
        [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import glob
import os.path as osp
import re
import sys

import torch
from mmengine.dist import is_main_process

import mmshuffle  # noqa: F401  (registers backbones, safe checkpoint loading)
from mmshuffle.engine.cli import (CLIError, add_common_args,
                                  add_safe_checkpoint_hook, build_runner,
                                  fix_dataloaders, load_config, run_cli,
                                  set_launcher, set_work_dir)
from mmshuffle.engine.config_checks import check_config
from mmshuffle.engine.dist import setup_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        metavar='CKPT',
        help='resume from CKPT, or, without CKPT, from the latest '
        'checkpoint of the work dir (an error if there is none)')
    parser.add_argument(
        '--amp', action='store_true',
        help='automatic mixed precision (needs a CUDA GPU)')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by the actual total batch size '
        'over the config\'s auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--no-validate', action='store_true',
        help='do not evaluate during training')
    add_common_args(parser)
    return parser.parse_args(argv)


def latest_checkpoint(work_dir: str):
    """The newest ``epoch_N.pth`` / ``iter_N.pth`` in ``work_dir``."""
    found = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        m = re.fullmatch(r'(epoch|iter)_(\d+)\.pth', osp.basename(path))
        if m:
            found.append((int(m.group(2)), path))
    return max(found)[1] if found else None


def apply_resume(cfg, resume) -> None:
    if resume is None:
        return
    if resume == 'auto':
        last = last_complete_checkpoint(cfg.work_dir)
        if last is None:
            raise CLIError(
                f'--resume: no checkpoint to resume from in work dir '
                f'{cfg.work_dir!r} (no last_checkpoint file and no '
                'epoch_N.pth / iter_N.pth). Give the checkpoint path '
                '(--resume CKPT) or drop --resume to start from scratch.')
        cfg.load_from = last
    else:
        if not osp.isfile(resume):
            raise CLIError(f'--resume: checkpoint {resume!r} does not exist')
        cfg.load_from = resume
    cfg.resume = True


def last_complete_checkpoint(work_dir: str):
    """What a bare ``--resume`` picks up in ``work_dir``: the file named
    by the ``last_checkpoint`` marker, else (no marker, or one naming a
    file that is gone) the newest ``epoch_N.pth`` / ``iter_N.pth``; None
    if there is neither."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            last = f.read().strip()
        if last and osp.isfile(last):
            return last
    return latest_checkpoint(work_dir)


def report_interruption(runner, config: str) -> None:
    """After Ctrl-C: say where training stopped and how to go on."""
    if not is_main_process():
        return
    last = last_complete_checkpoint(runner.work_dir)
    where = f'iteration {runner.iter + 1}'
    if 'max_epochs' in (runner.cfg.get('train_cfg') or {}):
        where = f'epoch {runner.epoch + 1}, {where}'
    if last is None:
        then = ('no checkpoint was saved yet; run the same command again '
                'to start over')
    else:
        then = (f'the last complete checkpoint is {last}; continue with '
                f'tools/train.py {config} --work-dir {runner.work_dir} '
                '--resume')
    print(f'\ninterrupted (Ctrl-C) during {where}: {then}',
          file=sys.stderr)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    set_work_dir(cfg, args.config, args.work_dir)
    set_launcher(cfg, args.launcher, args.local_rank)
    if args.amp:
        if not torch.cuda.is_available():
            raise CLIError('--amp needs a CUDA GPU and none is available; '
                           'train in fp32 without --amp')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise CLIError('--auto-scale-lr: the config has no '
                           'auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    apply_resume(cfg, args.resume)
    fix_dataloaders(cfg)
    add_safe_checkpoint_hook(cfg)
    check_config(cfg, ['train_dataloader'] +
                 (['val_dataloader'] if cfg.get('val_cfg') else []),
                 training=True)
    setup_distributed(cfg)
    runner = build_runner(cfg)
    try:
        runner.train()
    except KeyboardInterrupt:
        report_interruption(runner, args.config)
        sys.exit(130)  # the shell's code for a run ended by SIGINT


if __name__ == '__main__':
    run_cli(main)
