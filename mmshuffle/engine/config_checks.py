"""Checks of a config (after ``--cfg-options``) before a Runner is built.

mmengine builds what a config describes without looking at it first: a
misspelled backbone argument becomes a ``TypeError`` deep in the registry,
``batch_size=0`` a ``ValueError`` from PyTorch's sampler once the loop
starts, a negative learning rate a run that silently diverges.
:func:`check_config` looks first and raises :class:`ConfigError` naming
the config key, the value and what is allowed; ``tools/train.py`` and
``tools/test.py`` print it as one line and exit 2.
"""
import difflib
import inspect
import math
import os
import os.path as osp
from numbers import Real
from typing import Iterable, Optional

from mmshuffle.datasets.checks import check_dataloader, dataset_configs


class ConfigError(ValueError):
    """A config value is out of range or an argument is unknown."""


def _lookup(cfg, dotted: str):
    node = cfg  # a Config or a ConfigDict
    for part in dotted.split('.'):
        if not hasattr(node, 'get'):
            return None
        node = node.get(part)
    return node


def _int(cfg, key: str, low: int, allowed: Iterable[int] = ()) -> None:
    value = _lookup(cfg, key)
    if value is None:
        return
    if not (isinstance(value, int) and not isinstance(value, bool) and
            (value >= low or value in allowed)):
        extra = ''.join(f' or {a}' for a in allowed)
        raise ConfigError(f'{key} must be an int >= {low}{extra}, but got '
                          f'{value!r}')


def _number(cfg, key: str, low: float, high: Optional[float] = None,
            low_open: bool = False) -> None:
    value = _lookup(cfg, key)
    if value is None:
        return
    ok = isinstance(value, Real) and not isinstance(value, bool) and \
        math.isfinite(value) and (value > low if low_open else value >= low)
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bound = f'> {low}' if low_open else f'>= {low}'
        if high is not None:
            bound += f' and <= {high}'
        raise ConfigError(f'{key} must be a finite number {bound}, but got '
                          f'{value!r}')


def check_values(cfg) -> None:
    """Range checks of the settings most often overridden on the command
    line (``--cfg-options``)."""
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader):
            _int(cfg, f'{loader}.batch_size', 1)
            _int(cfg, f'{loader}.num_workers', 0)
    if cfg.get('train_cfg'):
        _int(cfg, 'train_cfg.max_epochs', 1)
        _int(cfg, 'train_cfg.max_iters', 1)
        _int(cfg, 'train_cfg.val_interval', 1)
        _int(cfg, 'train_cfg.val_begin', 1)
    optimizer = 'optim_wrapper.optimizer'
    _number(cfg, f'{optimizer}.lr', 0, low_open=True)
    _number(cfg, f'{optimizer}.weight_decay', 0)
    _number(cfg, f'{optimizer}.momentum', 0, 1)
    _number(cfg, 'optim_wrapper.clip_grad.max_norm', 0, low_open=True)
    _int(cfg, 'default_hooks.checkpoint.interval', 1, allowed=(-1, ))
    _int(cfg, 'default_hooks.checkpoint.max_keep_ckpts', 1, allowed=(-1, ))
    _int(cfg, 'default_hooks.logger.interval', 1)
    _int(cfg, 'auto_scale_lr.base_batch_size', 1)
    seed = _lookup(cfg, 'randomness.seed')
    if seed is not None and not (isinstance(seed, int) and
                                 0 <= seed < 2**32):
        raise ConfigError('randomness.seed must be None or an int in '
                          f'range(0, 2**32), but got {seed!r}')


def _built_elsewhere(name: str) -> bool:
    """``*_cfg`` dicts (init_cfg, train_cfg, norm_cfg, act_cfg, ...) are
    read by helpers such as ``build_norm_layer``, not passed to
    ``MODELS.build`` as they are."""
    return name.endswith('_cfg')


def _model_dicts(node, key):
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield key, node
        for name, value in node.items():
            if not _built_elsewhere(name):
                yield from _model_dicts(value, f'{key}.{name}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _model_dicts(value, f'{key}[{i}]')


def check_model_args(cfg) -> None:
    """Every argument given to a class built by the MODELS registry must
    be one its ``__init__`` accepts (classes taking ``**kwargs`` accept
    anything and are not checked); mmshuffle's own modules are built once
    so that their argument checks run with the config key in the
    message."""
    from mmengine.registry import MODELS
    model = cfg.get('model')
    if not model:
        return
    with MODELS.switch_scope_and_registry(cfg.get('default_scope')) as reg:
        for key, sub in _model_dicts(model, 'model'):
            try:
                cls = reg.get(sub['type'])
            except Exception:  # noqa: BLE001 (mmengine reports unknowns)
                cls = None
            if not inspect.isclass(cls):
                continue
            params = inspect.signature(cls.__init__).parameters
            if any(p.kind is p.VAR_KEYWORD for p in params.values()):
                continue
            names = [n for n in params if n != 'self']
            for arg in sub:
                if arg in ('type', '_scope_') or arg in names:
                    continue
                close = difflib.get_close_matches(arg, names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ''
                raise ConfigError(
                    f'{key}: {sub["type"]} has no argument {arg!r}{hint}; '
                    f'its arguments are {", ".join(names)}')
            if cls.__module__.startswith('mmshuffle.'):
                kwargs = {k: v for k, v in sub.items()
                          if k not in ('type', '_scope_')}
                try:
                    cls(**kwargs)
                except (ValueError, TypeError) as err:
                    raise ConfigError(f'{key} ({sub["type"]}): {err}') \
                        from None


def _pretrained(node, key):
    """``(key, checkpoint)`` of every ``init_cfg`` of type ``Pretrained``
    under ``node``."""
    if isinstance(node, dict):
        for name, value in node.items():
            where = f'{key}.{name}'
            if name == 'init_cfg':
                inits = value if isinstance(value, (list, tuple)) else [value]
                for i, init in enumerate(inits):
                    if isinstance(init, dict) and init.get(
                            'type') == 'Pretrained' and init.get(
                                'checkpoint'):
                        at = where if len(inits) == 1 else f'{where}[{i}]'
                        yield f'{at}.checkpoint', init['checkpoint']
            else:
                yield from _pretrained(value, where)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _pretrained(value, f'{key}[{i}]')


def _is_local(path) -> bool:
    return isinstance(path, str) and '://' not in path


def check_checkpoints(cfg) -> None:
    """Every local checkpoint the config starts from (``init_cfg`` of type
    ``Pretrained`` anywhere in the model, ``load_from``) exists; a path
    relative to the working directory is the usual miss when a config is
    inherited from another folder (``mmshuffle::``)."""
    found = list(_pretrained(cfg.get('model') or {}, 'model'))
    if cfg.get('load_from'):
        found.append(('load_from', cfg.load_from))
    for key, path in found:
        if _is_local(path) and not osp.isfile(path):
            where = '' if osp.isabs(path) else \
                f' (relative to {os.getcwd()})'
            hint = ('; set it to your checkpoint, or the init_cfg to None '
                    'to start from random weights') \
                if key.endswith('.checkpoint') else ''
            raise ConfigError(f'{key} {path!r} does not exist{where}{hint}')


#: where a config's classifiers keep their number of classes
NUM_CLASSES_KEYS = ('model.head.num_classes', 'model.bbox_head.num_classes',
                    'model.roi_head.bbox_head.num_classes',
                    'model.data_preprocessor.num_classes',
                    'data_preprocessor.num_classes')


def _dataset_classes(cfg, loader: str):
    """``(key, classes)`` of the first dataset of ``cfg.<loader>`` whose
    classes are known: its ``metainfo.classes`` (or mmpretrain's
    ``classes`` argument), else its class's own ``METAINFO`` (COCO's 80,
    ImageNet's 1000, ...); ``None`` when none is known (a file of class
    names, or classes from folder names)."""
    from mmengine.registry import DATASETS
    for key, dataset in dataset_configs(cfg, loader):
        metainfo = dataset.get('metainfo') or {}
        name, classes = f'{key}.metainfo.classes', metainfo.get('classes')
        if classes is None:  # mmpretrain's datasets also take `classes`
            name, classes = f'{key}.classes', dataset.get('classes')
        if classes is not None and not isinstance(classes, str):
            return name, tuple(classes)
        kind = dataset.get('type')
        if not isinstance(kind, str) or classes is not None:
            continue
        try:
            with DATASETS.switch_scope_and_registry(
                    cfg.get('default_scope')) as registry:
                dataset_cls = registry.get(kind)
        except Exception:  # noqa: BLE001 (an unknown type: mmengine says)
            dataset_cls = None
        known = getattr(dataset_cls, 'METAINFO', {}).get('classes')
        if known:
            return f'{key} ({kind})', tuple(known)
    return None


def check_num_classes(cfg) -> None:
    """The classifier heads (and a classification data preprocessor's
    ``num_classes``) have as many classes as the datasets: their
    ``metainfo.classes``, or the dataset class's own list. A config that
    inherits another and changes its data but not its classes stops
    here, not after an epoch of training on wrong labels."""
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        found = _dataset_classes(cfg, loader)
        if found is None:
            continue
        where, classes = found
        for key in NUM_CLASSES_KEYS:
            value = _lookup(cfg, key)
            if not isinstance(value, int) or isinstance(value, bool) or \
                    value == len(classes):
                continue
            names = ', '.join(map(repr, classes[:6])) + \
                (', ...' if len(classes) > 6 else '')
            raise ConfigError(
                f'{key} is {value}, but {where} has {len(classes)} classes '
                f'({names}); set {key}={len(classes)}')


def check_config(cfg, dataloaders: Iterable[str] = (),
                 training: bool = False) -> None:
    """All checks: values, model arguments, the number of classes, the
    data of each named dataloader (see
    :func:`mmshuffle.datasets.checks.check_dataloader`) and, for
    ``training``, the checkpoints the run starts from
    (:func:`check_checkpoints`; a test loads its weights from the
    checkpoint it is given).

    Raises:
        ConfigError: a value or argument is wrong.
        mmshuffle.datasets.DataError: the data are missing or invalid.
    """
    check_values(cfg)
    check_model_args(cfg)
    check_num_classes(cfg)
    for name in dataloaders:
        check_dataloader(cfg, name)
    if training:
        check_checkpoints(cfg)
