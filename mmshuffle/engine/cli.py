"""What the command-line tools share: their errors, arguments and
config handling, and the ``metrics {...}`` line the evaluating tools
print.

They work for mmpretrain and mmdet configs alike (the config's
``default_scope`` decides, see :mod:`mmshuffle.engine.configs`) and from
any working directory.
"""
import argparse
import json
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional

import torch
from mmengine.config import Config, ConfigDict, DictAction

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
SAFE_HOOK = 'mmshuffle.SafeCheckpointHook'
ATOMIC_HOOK = 'mmshuffle.AtomicCheckpointHook'


class CLIError(Exception):
    """A problem with the command line or config, reported without a
    traceback by the tools."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one ``error:`` line (no usage
    block) and exit status 2."""

    def error(self, message):
        self.exit(2, f'error: {message}\n')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='directory for logs and '
                        'checkpoints (default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        metavar='KEY=VALUE',
        help='override config settings, e.g. '
        'train_dataloader.batch_size=16 optim_wrapper.optimizer.lr=0.1')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--local_rank', '--local-rank', type=int, default=0,
        help=argparse.SUPPRESS)


def load_config(path: str, cfg_options: Optional[dict]) -> Config:
    """The config at ``path`` with ``cfg_options`` merged in. mmengine
    finds ``package::`` bases through ``pkg_resources``, whose import
    warns that it is deprecated: that warning is not shown to the tools'
    users (it says nothing about their config)."""
    if not osp.isfile(path):
        raise CLIError(f'config file {path!r} does not exist')
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='pkg_resources is '
                                'deprecated', category=UserWarning)
        cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def set_work_dir(cfg: Config, config_path: str,
                 work_dir: Optional[str]) -> None:
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(config_path))[0]
        cfg.work_dir = osp.join('./work_dirs', name)


def fix_dataloaders(cfg: Config) -> None:
    """Dataloader settings that must agree with each other and the host:
    ``persistent_workers`` only with workers, ``pin_memory`` only with a
    GPU; images are loaded by ``mmshuffle.LoadImageFromFile``, whose
    errors name the file."""
    from mmshuffle.datasets.transforms import name_unreadable_images
    for field in DATALOADERS:
        loader = cfg.get(field)
        if not loader:
            continue
        name_unreadable_images(loader.get('dataset'))
        if loader.get('num_workers', 0) == 0:
            loader['persistent_workers'] = False
        if not torch.cuda.is_available():
            loader['pin_memory'] = False


def add_safe_checkpoint_hook(cfg: Config) -> None:
    """Make checkpoints weights-only loadable and the marker atomic: add
    :class:`SafeCheckpointHook` and upgrade mmengine's plain
    ``CheckpointHook`` to :class:`AtomicCheckpointHook`."""
    ckpt_hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if ckpt_hook is not None and ckpt_hook.get('type') in (
            'CheckpointHook', 'mmengine.CheckpointHook'):
        ckpt_hook['type'] = ATOMIC_HOOK
    hooks: List = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') in (SAFE_HOOK, 'SafeCheckpointHook')
               for h in hooks):
        hooks.append(ConfigDict(type=SAFE_HOOK))
    cfg.custom_hooks = hooks


def set_launcher(cfg: Config, launcher: str, local_rank: int) -> None:
    cfg.launcher = launcher
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(local_rank)


def build_runner(cfg: Config):
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


#: how an evaluating tool's metrics line starts
METRICS_PREFIX = 'metrics '


def format_metrics(metrics: Dict) -> str:
    """The one line ``metrics {json}`` that ``tools/test.py`` and
    ``tools/deployment/test_onnx.py`` print: numbers rounded to 4 places,
    anything else as text."""
    return METRICS_PREFIX + json.dumps({
        k: round(float(v), 4) if isinstance(v, (int, float)) else str(v)
        for k, v in metrics.items()
    })


def parse_metrics(output: str) -> Dict:
    """The metrics of the last ``metrics {json}`` line of a tool's
    ``output`` (:func:`format_metrics`).

    Raises:
        ValueError: ``output`` has no such line.
    """
    lines = [ln for ln in output.splitlines()
             if ln.startswith(METRICS_PREFIX)]
    if not lines:
        raise ValueError('the output has no metrics line')
    return json.loads(lines[-1][len(METRICS_PREFIX):])


def one_line(err: Exception) -> str:
    """The message of ``err``; for an error re-raised by a DataLoader
    worker (its message carries the worker's traceback), the original
    message only."""
    message = str(err)
    if 'Original Traceback' in message:
        prefix = f'{type(err).__name__}: '
        for line in reversed(message.strip().splitlines()):
            if prefix in line:
                return line.split(prefix, 1)[1]
    return message


def run_cli(main) -> None:
    """Run ``main()``; a :class:`CLIError`, a refused checkpoint, a config
    value out of range or invalid data prints one line and exits 2."""
    import sys

    from mmshuffle.datasets.checks import DataError

    from .checkpoint import CheckpointReadError
    from .config_checks import ConfigError
    try:
        main()
    except (CLIError, CheckpointReadError, ConfigError, DataError) as err:
        print(f'error: {one_line(err)}', file=sys.stderr)
        sys.exit(2)
