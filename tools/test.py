"""Evaluate a checkpoint with an mmpretrain or mmdet config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
        [--show-dir DIR] [--deploy] [--cfg-options KEY=VALUE ...]
        [--launcher none|pytorch|slurm|mpi]

The checkpoint is loaded strictly: a checkpoint of another model is an
error that names the mismatching keys, not a silently wrong result.
``--deploy`` evaluates the model's deploy form (BatchNorm folded into the
convolutions, see docs/deployment.md) instead of the training form.
"""
import argparse
import os.path as osp

from mmengine.dist import is_main_process

import mmshuffle  # noqa: F401  (registers backbones, safe checkpoint loading)
from mmshuffle.datasets.checks import check_dataloader
from mmshuffle.engine.cli import (CLIError, add_common_args, build_runner,
                                  fix_dataloaders, format_metrics,
                                  load_config, run_cli, set_launcher,
                                  set_work_dir)
from mmshuffle.engine.config_checks import check_config
from mmshuffle.engine.dist import setup_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', help='dump the predictions to this pickle file (.pkl)')
    parser.add_argument(
        '--show-dir',
        help='save images with predictions drawn on them to this directory')
    parser.add_argument(
        '--deploy', action='store_true',
        help='evaluate the deploy form (BatchNorm folded into the convs)')
    add_common_args(parser)
    return parser.parse_args(argv)


def enable_visualization(cfg, show_dir: str) -> None:
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise CLIError('--show-dir: the config has no '
                       'default_hooks.visualization hook')
    if cfg.get('default_scope') == 'mmdet':
        hook['draw'] = True
        hook['test_out_dir'] = osp.abspath(show_dir)
    else:
        hook['enable'] = True
        hook['out_dir'] = osp.abspath(show_dir)


def dump_metric(cfg, out: str):
    if not out.endswith(('.pkl', '.pickle')):
        raise CLIError(f'--out must name a .pkl file, got {out!r}')
    if cfg.get('default_scope') == 'mmdet':
        from mmdet.evaluation import DumpDetResults
        return DumpDetResults(out_file_path=out)
    from mmengine.evaluator import DumpResults
    return DumpResults(out_file_path=out)


def drop_ema_hooks(cfg) -> list:
    """Remove the EMA hooks from ``custom_hooks``; returns their types.

    An EMA hook keeps a second, averaged copy of the weights for training;
    on saving, mmengine's ``EMAHook`` (and mmpretrain's, built on it) puts
    the averaged weights in the checkpoint's ``state_dict``. That is what
    mmdet's own test evaluates and what the exporters export, so the
    tester loads the ``state_dict`` as it is. Kept, the hook would need
    its copy before the checkpoint is loaded (mmengine builds it in
    ``before_run``), and it would swap it with a ``--deploy`` model of
    another layout.
    """
    def is_ema(hook):
        kind = hook.get('type', '')
        name = kind if isinstance(kind, str) else getattr(kind, '__name__',
                                                          '')
        return name.split('.')[-1] == 'EMAHook'

    hooks = cfg.get('custom_hooks') or []
    dropped = [h['type'] for h in hooks if is_ema(h)]
    if dropped:
        cfg.custom_hooks = [h for h in hooks if not is_ema(h)]
    return dropped


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise CLIError(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_config(args.config, args.cfg_options)
    set_work_dir(cfg, args.config, args.work_dir)
    set_launcher(cfg, args.launcher, args.local_rank)
    # loaded once, strictly, below: mmengine's runner.test() would load
    # `load_from` again, non-strictly (and over a deploy-form model)
    cfg.load_from = None
    drop_ema_hooks(cfg)
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    fix_dataloaders(cfg)
    check_config(cfg)
    setup_distributed(cfg)
    runner = build_runner(cfg)
    try:
        runner.load_checkpoint(args.checkpoint, map_location='cpu',
                               strict=True)
    except RuntimeError as err:
        raise CLIError(f'checkpoint {args.checkpoint!r} does not fit the '
                       f'model of {args.config!r}: {err}') from None
    if args.deploy:
        from mmshuffle.deploy import switch_to_deploy
        switch_to_deploy(runner.model)
    check_dataloader(cfg, 'test_dataloader')
    if args.out:
        runner.test_evaluator.metrics.append(dump_metric(cfg, args.out))
    metrics = runner.test()
    if not is_main_process():  # every rank gets the gathered metrics
        return
    print('\n' + format_metrics(metrics))


if __name__ == '__main__':
    run_cli(main)
