"""A loaded config, read and built the same way by every tool: its task,
its model, data preprocessor and dataloaders (in the config's own
``default_scope``: mmpretrain or mmdet), the size of its data sets, and a
shortened training schedule."""
import copy
from typing import Dict, List, Optional

from mmengine.config import Config
from mmengine.registry import DefaultScope

#: the config scopes the tools work with, and the task of each
TASKS = {'mmpretrain': 'classification', 'mmdet': 'detection'}


def scope_of(cfg: Config) -> str:
    """The config's ``default_scope`` (``mmpretrain`` when it has none)."""
    return cfg.get('default_scope', 'mmpretrain')


def task_of(cfg: Config) -> str:
    """``'classification'`` (an mmpretrain config) or ``'detection'`` (an
    mmdet config).

    Raises:
        ValueError: the config is of another scope.
    """
    scope = scope_of(cfg)
    if scope not in TASKS:
        raise ValueError(f'the config is neither a classification nor a '
                         f'detection config (default_scope {scope!r})')
    return TASKS[scope]


def model_registry(cfg: Config):
    """The ``MODELS`` registry of the config's scope."""
    if scope_of(cfg) == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmpretrain.registry import MODELS
    return MODELS


def build_model(cfg: Config, pretrained: bool = True):
    """The model of a config, built in its ``default_scope`` (mmpretrain or
    mmdet). With ``pretrained=False`` the backbone's ``init_cfg`` is dropped
    (the weights will come from a checkpoint, or do not matter). A
    top-level ``data_preprocessor`` (mmpretrain's configs) becomes the
    model's unless the model has its own, as the Runner does."""
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if not pretrained and model_cfg.get('backbone') is not None:
        model_cfg.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope(scope_of(cfg)):
        return model_registry(cfg).build(model_cfg)


def build_data_preprocessor(cfg: Config):
    """The data preprocessor the Runner gives the config's model: the
    model's ``data_preprocessor``, else the config's top-level one, else
    the scope's default (``DetDataPreprocessor`` or
    ``ClsDataPreprocessor``)."""
    pre_cfg = dict(cfg.model.get('data_preprocessor') or
                   cfg.get('data_preprocessor') or {})
    pre_cfg.setdefault('type', 'DetDataPreprocessor' if scope_of(cfg) ==
                       'mmdet' else 'ClsDataPreprocessor')
    with DefaultScope.overwrite_default_scope(scope_of(cfg)):
        return model_registry(cfg).build(pre_cfg)


def build_dataloader(cfg: Config, field: str, seed=None, **overrides):
    """The dataloader ``cfg.<field>`` (its settings updated with
    ``overrides``, e.g. ``batch_size=1``), built in the config's scope;
    run :func:`mmshuffle.engine.cli.fix_dataloaders` on ``cfg`` first."""
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(cfg.get(field))
    loader_cfg.update(overrides)
    with DefaultScope.overwrite_default_scope(scope_of(cfg)):
        return Runner.build_dataloader(loader_cfg, seed=seed)


def one_by_one(cfg: Config, field: str, seed=None, **overrides):
    """:func:`build_dataloader` of one image per batch, in the main process
    (``batch_size=1``, no workers)."""
    return build_dataloader(cfg, field, seed, batch_size=1, num_workers=0,
                            persistent_workers=False, **overrides)


def dataset_length(cfg: Config, field: str = 'train_dataloader') -> int:
    """How many samples the data set of ``cfg.<field>`` holds (its files
    must be there)."""
    from mmengine.registry import DATASETS
    dataset_cfg = copy.deepcopy(cfg.get(field)['dataset'])
    with DefaultScope.overwrite_default_scope(scope_of(cfg)):
        return len(DATASETS.build(dataset_cfg))


def shorten_schedule(cfg: Config, epochs: int) -> Dict:
    """``--cfg-options`` (as a dict) that train an epoch-based config for
    ``epochs`` epochs instead of its ``train_cfg.max_epochs``, validated
    after the last one, its learning-rate schedule compressed with it:
    every epoch-based ``param_scheduler`` that ends at ``max_epochs`` ends
    at ``epochs`` (a cosine decay then spans the shorter run); one that
    begins after ``epochs`` is an error.

    Raises:
        ValueError: ``epochs`` is not a positive int, the config does not
            train by epochs, or a scheduler begins after ``epochs``.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or \
            epochs < 1:
        raise ValueError(f'epochs must be an int >= 1, got {epochs!r}')
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' not in train_cfg:
        raise ValueError('the config does not train by epochs (train_cfg '
                         'has no max_epochs)')
    max_epochs = train_cfg['max_epochs']
    options = {'train_cfg.max_epochs': epochs,
               'train_cfg.val_interval': epochs}
    schedulers = cfg.get('param_scheduler') or []
    single = isinstance(schedulers, dict)
    for i, sched in enumerate([schedulers] if single else schedulers):
        if not sched.get('by_epoch', True):
            continue
        key = 'param_scheduler' if single else f'param_scheduler.{i}'
        if sched.get('begin', 0) >= epochs:
            raise ValueError(
                f'{key} ({sched.get("type")}) begins at epoch '
                f'{sched["begin"]}, not before the shortened end {epochs}')
        if sched.get('end') == max_epochs:
            options[f'{key}.end'] = epochs
    return options


def class_names(cfg, meta: Dict) -> List[str]:
    """Class names: from the checkpoint's or the export's metadata, else
    the config's datasets (``metainfo.classes``, or mmpretrain's
    ``classes``)."""
    names = list(meta.get('classes') or [])
    if names:
        return names
    for field in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dataset = (cfg.get(field) or {}).get('dataset') or {}
        classes = (dataset.get('metainfo') or {}).get('classes') or \
            dataset.get('classes')
        if classes and not isinstance(classes, str):
            return list(classes)
    return []


def palette_of(cfg) -> Optional[List[tuple]]:
    """The colours of the config's dataset metainfo, if it has some."""
    for field in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(field) or {}).get('dataset') or {}
        palette = (dataset.get('metainfo') or {}).get('palette')
        if palette:
            return [tuple(c) for c in palette]
    return None


def test_pipeline(cfg):
    """The config's test pipeline for images decoded beforehand
    (:func:`mmshuffle.apis.images.read_image`): without its file loading
    and annotation steps, packing the image's path, sizes and scale."""
    from mmengine.dataset import Compose
    steps = []
    for step in cfg.test_dataloader.dataset.pipeline:
        step = dict(step)
        kind = str(step.get('type', '')).split('.')[-1]
        if kind.startswith('LoadImageFrom') or 'Annotation' in kind:
            continue
        if kind in ('PackDetInputs', 'PackInputs'):
            keys = set(step.get('meta_keys', ())) | {
                'img_path', 'ori_shape', 'img_shape', 'scale_factor'}
            step['meta_keys'] = tuple(sorted(keys))
        steps.append(step)
    with DefaultScope.overwrite_default_scope(scope_of(cfg)):
        return Compose(steps)


def prepare_image(pipeline, image, path: str,
                  to_float32: bool = False) -> Dict:
    """One decoded image (:class:`mmshuffle.apis.images.Image`) through a
    :func:`test_pipeline`, as its file would go through the config's."""
    img = image.bgr.astype('float32') if to_float32 else image.bgr
    height, width = img.shape[:2]
    return pipeline(dict(img=img, img_path=path, img_id=0,
                         img_shape=(height, width),
                         ori_shape=(height, width)))


def loads_float32(cfg) -> bool:
    """Whether the config's test pipeline loads images as float32."""
    return any(
        str(s.get('type', '')).endswith('LoadImageFromFile') and
        s.get('to_float32') for s in cfg.test_dataloader.dataset.pipeline)
