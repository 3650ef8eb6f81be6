"""Distributed set-up that works with and without GPUs.

mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` whatever
the backend (the slurm path also divides by ``torch.cuda.device_count()``)
and defaults to nccl, so ``--launcher pytorch`` crashes on a machine
without a GPU. ``tools/train.py`` and ``tools/test.py`` call
:func:`setup_distributed` instead: it initialises the default process
group itself from the launcher's environment (``torchrun``: ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``; slurm:
``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``, ``SLURM_NODELIST``),
touches CUDA only where it is available, and configures mmengine's DDP
wrapper for CPU modules. mmengine's Runner then finds the process group
initialised and uses it as is.

The backend is ``env_cfg.dist_cfg.backend`` when the config sets it, else
nccl where CUDA is available and gloo where it is not.
"""
import datetime
import os
import subprocess
from typing import Optional

import torch
import torch.distributed as torch_dist

from .cli import CLIError

BACKENDS = ('nccl', 'gloo', 'mpi')
LAUNCHERS = ('pytorch', 'slurm')
TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
                'MASTER_PORT')
SLURM_ENV = ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST')


class DistSetupError(CLIError):
    """The launcher's environment or the configured backend cannot work
    here; the message says what is missing and what to do (the tools print
    it as one line and exit 2)."""


def choose_backend(dist_cfg: Optional[dict] = None) -> str:
    """``dist_cfg['backend']`` if set, else nccl with CUDA, gloo without.

    Raises:
        DistSetupError: the backend is unknown, or it is nccl and no CUDA
            device is available.
    """
    backend = (dist_cfg or {}).get('backend')
    if backend in (None, 'auto'):
        return 'nccl' if torch.cuda.is_available() else 'gloo'
    if backend not in BACKENDS:
        raise DistSetupError(
            f'env_cfg.dist_cfg.backend must be one of {list(BACKENDS)} or '
            f"'auto', but got {backend!r}")
    if backend == 'nccl' and not torch.cuda.is_available():
        raise DistSetupError(
            "env_cfg.dist_cfg.backend='nccl' needs CUDA GPUs, but none is "
            "available; use backend='gloo' (or leave backend unset to "
            'choose automatically)')
    return backend


def _require_env(names, launcher: str) -> None:
    missing = [n for n in names if n not in os.environ]
    if missing:
        hint = ('start it with tools/dist_train.sh / tools/dist_test.sh '
                '(torchrun)' if launcher == 'pytorch' else
                'start it with srun (tools/slurm_train.sh / '
                'tools/slurm_test.sh)')
        raise DistSetupError(
            f'--launcher {launcher}: environment variable(s) '
            f'{", ".join(missing)} not set; {hint}')


def _slurm_env() -> None:
    """Translate slurm's variables into torch's ``env://`` ones."""
    _require_env(SLURM_ENV, 'slurm')
    proc_id = int(os.environ['SLURM_PROCID'])
    local_id = os.environ.get('SLURM_LOCALID')
    if local_id is None:
        local_id = proc_id % max(torch.cuda.device_count(), 1)
    if 'MASTER_ADDR' not in os.environ:
        nodes = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {nodes} | head -n1')
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = str(proc_id)
    os.environ['LOCAL_RANK'] = str(local_id)


def init_process_group(launcher: str, dist_cfg: Optional[dict] = None) -> str:
    """Initialise torch's default process group for ``launcher``
    (``'pytorch'`` or ``'slurm'``), touching CUDA only where it is
    available (then each process uses GPU ``LOCAL_RANK``). Returns the
    backend used.

    ``dist_cfg`` is the config's ``env_cfg.dist_cfg``: ``backend`` and
    ``timeout`` (seconds) are used; other keys go to
    ``torch.distributed.init_process_group``.
    """
    if launcher not in LAUNCHERS:
        raise DistSetupError(f'launcher must be one of {list(LAUNCHERS)}, '
                             f'but got {launcher!r}')
    kwargs = dict(dist_cfg or {})
    backend = choose_backend(kwargs)
    kwargs.pop('backend', None)
    kwargs.pop('init_backend', None)
    if launcher == 'slurm':
        port = kwargs.pop('port', None)  # as mmengine's dist_cfg.port
        if port is not None:
            os.environ['MASTER_PORT'] = str(port)
        _slurm_env()
    else:
        _require_env(TORCHRUN_ENV, 'pytorch')
    if kwargs.get('timeout') is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    if torch.cuda.is_available():  # one GPU per process, whatever backend
        torch.cuda.set_device(int(os.environ['LOCAL_RANK']))
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend=backend,
            init_method='env://',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **kwargs)
    return backend


SYNC_BN = ('SyncBN', 'MMSyncBN', 'mmcv.SyncBN', 'mmcv.MMSyncBN',
           'mmengine.SyncBN')


def _sync_bn_keys(node, key='model'):
    if isinstance(node, dict):
        if key.endswith('norm_cfg') and node.get('type') in SYNC_BN:
            yield key
        for name, value in node.items():
            yield from _sync_bn_keys(value, f'{key}.{name}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _sync_bn_keys(value, f'{key}[{i}]')


def check_sync_bn(cfg) -> None:
    """SyncBN synchronises through CUDA (torch's ``SyncBatchNorm`` refuses
    CPU tensors once several processes run): refuse it up front when
    there is no GPU, naming where the config asks for it."""
    if torch.cuda.is_available():
        return
    where = list(_sync_bn_keys(cfg.get('model') or {}))
    if cfg.get('sync_bn'):
        where.insert(0, f'sync_bn={cfg.sync_bn!r}')
    if where:
        raise DistSetupError(
            f'SyncBN needs CUDA GPUs, but none is available ({where[0]}); '
            "use norm_cfg=dict(type='BN') (e.g. with norm_eval=True) for "
            'distributed training on CPUs')


def setup_distributed(cfg) -> Optional[str]:
    """Prepare ``cfg`` and the process for ``cfg.launcher``.

    For ``'none'`` (and ``'mpi'``, left to mmengine) nothing is done and
    ``None`` is returned. For ``'pytorch'`` and ``'slurm'`` the default
    process group is initialised (see :func:`init_process_group`) and,
    without CUDA, mmengine's DDP wrapper is told not to pin the model to a
    GPU (``device_ids=None``). Returns the backend.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher not in LAUNCHERS:
        return None
    check_sync_bn(cfg)
    env_cfg = cfg.get('env_cfg') or {}
    backend = init_process_group(launcher, env_cfg.get('dist_cfg'))
    if not torch.cuda.is_available() and cfg.get('model_wrapper_cfg') is \
            None:
        # mmengine passes device_ids=[LOCAL_RANK], which torch's DDP
        # rejects for a model on the CPU
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    return backend
