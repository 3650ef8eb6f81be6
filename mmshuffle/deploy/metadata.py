"""The one metadata format of every file mmshuffle exports.

An exported model carries string key/value pairs that say all it takes to
feed it and read its outputs, so that a host with an ONNX runtime alone
can run it (:mod:`mmshuffle.deploy.standalone`): ``task``; the test
pipeline's geometric steps (``pipeline``, :func:`describe_pipeline`); the
data preprocessor's ``mean``, ``std``, ``bgr_to_rgb``, ``size_divisor``,
``pad_value`` and whether the graph takes ``raw_input`` pixels; a
classifier's ``input_hw``; ``classes``, ``palette``, ``outputs`` (each
output's layout); a detector's ``score_thr``, ``iou_thr``,
``max_per_img`` and ``image_hw_input``; ``config``, ``mmshuffle_version``
and ``metadata_version``. A quantized file adds ``precision``,
``calibration_images`` and ``weight_bits``. Lists and booleans are JSON.

Where they are stored:

* ONNX: the model's ``metadata_props``, each key prefixed
  :data:`META_PREFIX` (``mmshuffle.task``, ...);
* OpenVINO IR: the model's ``rt_info`` section :data:`IR_SECTION`.

:class:`InputSpec` (defined in :mod:`~mmshuffle.deploy.standalone`) reads
back what the graph's input must be, so that every runtime, check and
calibration feeds it the same way.
"""
import json
import os.path as osp
from typing import Dict

from .standalone import META_PREFIX, InputSpec, strip_prefix

__all__ = [
    'META_PREFIX', 'IR_SECTION', 'InputSpec', 'strip_prefix', 'set_metadata',
    'read_metadata', 'read_ir_metadata', 'set_ir_metadata'
]
#: the ``rt_info`` section of an OpenVINO IR holding the same entries
IR_SECTION = 'mmshuffle'


def set_metadata(proto, meta: Dict[str, str]) -> None:
    """Write ``meta`` into an ONNX model's ``metadata_props`` (keys
    prefixed :data:`META_PREFIX`), replacing earlier values."""
    keys = {META_PREFIX + k for k in meta}
    kept = [p for p in proto.metadata_props if p.key not in keys]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key = META_PREFIX + key
        entry.value = str(value)


def read_metadata(path: str) -> Dict[str, str]:
    """The mmshuffle metadata of an exported ONNX file (an empty dict for
    files without any)."""
    import onnx
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path!r} does not exist')
    proto = onnx.load(path, load_external_data=False)
    return strip_prefix({p.key: p.value for p in proto.metadata_props})


def read_ir_metadata(model) -> Dict[str, str]:
    """The mmshuffle metadata of an OpenVINO model read from an IR
    (``openvino.Core().read_model``)."""
    info = model.get_rt_info()
    if IR_SECTION not in info:
        return {}
    section = info[IR_SECTION]
    section = section.astype(dict) if hasattr(section, 'astype') else section
    return {str(k): str(v.astype(str) if hasattr(v, 'astype') else v)
            for k, v in dict(section).items()}


def set_ir_metadata(model, meta: Dict[str, str]) -> None:
    """Write ``meta`` into an OpenVINO model's ``rt_info``."""
    for key, value in meta.items():
        model.set_rt_info(str(value), [IR_SECTION, key])


#: the version of this metadata format (2: the test pipeline, the data
#: preprocessor's padding, the outputs, the config and mmshuffle version)
METADATA_VERSION = 2


def _pair(value) -> list:
    return [int(value), int(value)] if isinstance(value, (int, float)) \
        else [int(v) for v in value]


def _pad_values(value) -> list:
    """mmcv's ``Pad`` value per channel: an int for every channel, a
    sequence as it is; a float goes to OpenCV as a scalar, which pads the
    first channel with it and the others with 0."""
    if isinstance(value, int):
        return [value] * 3
    if isinstance(value, float):
        return [value, 0, 0]
    return list(value)


def describe_pipeline(pipeline) -> list:
    """The geometric steps of a test ``pipeline`` (a config's list of
    transform dicts) in the vocabulary of
    :mod:`mmshuffle.deploy.standalone`: ``resize``, ``resize_edge``,
    ``center_crop``, ``pad``, each with the transform's defaults filled
    in. Loading, annotation and packing steps are left out; any other
    step is kept as ``{'type': 'unsupported', 'name': ...}``, which the
    standalone program refuses with its name."""
    steps = []
    for step in pipeline:
        step = dict(step)
        kind = str(step.get('type', '')).split('.')[-1]
        if kind.startswith('LoadImageFrom'):
            if step.get('to_float32'):
                steps.append(dict(type='unsupported',
                                  name=f'{kind}(to_float32=True)'))
            continue
        if 'Annotation' in kind or kind in ('PackDetInputs', 'PackInputs'):
            continue
        filters = dict(interpolation=step.get('interpolation', 'bilinear'),
                       backend=step.get('backend', 'cv2'))
        if kind == 'Resize' and step.get('scale') is not None and \
                step.get('scale_factor') is None:
            steps.append(dict(type='resize', scale=_pair(step['scale']),
                              keep_ratio=bool(step.get('keep_ratio')),
                              **filters))
        elif kind == 'ResizeEdge':
            steps.append(dict(type='resize_edge', scale=int(step['scale']),
                              edge=step.get('edge', 'short'), **filters))
        elif kind == 'CenterCrop' and not step.get('auto_pad'):
            steps.append(dict(type='center_crop',
                              size=_pair(step['crop_size'])))
        elif kind == 'Pad' and step.get('padding_mode',
                                        'constant') == 'constant':
            value = step.get('pad_val', 0)
            value = value.get('img', 0) if isinstance(value, dict) else value
            steps.append(dict(
                type='pad',
                size=None if step.get('size') is None else _pair(
                    step['size']),
                size_divisor=step.get('size_divisor'),
                pad_to_square=bool(step.get('pad_to_square')),
                value=_pad_values(value)))
        else:
            steps.append(dict(type='unsupported', name=kind))
    return steps


def config_metadata(cfg, config: str, classes=(), palette=None
                    ) -> Dict[str, str]:
    """The entries an export takes from its config: the test pipeline's
    steps (:func:`describe_pipeline`), class names and colours, the
    config's file name, mmshuffle's version and this format's."""
    from mmshuffle.version import __version__
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    while 'pipeline' not in dataset and ('dataset' in dataset or
                                         dataset.get('datasets')):
        # a wrapper (RepeatDataset, ConcatDataset, ...): the first inner set
        dataset = dataset.get('dataset') or dataset['datasets'][0]
    pipeline = dataset.get('pipeline', [])
    return {
        'metadata_version': str(METADATA_VERSION),
        'mmshuffle_version': __version__,
        'config': osp.basename(config),
        'pipeline': json.dumps(describe_pipeline(pipeline)),
        'classes': json.dumps(list(classes)),
        'palette': json.dumps([list(c) for c in palette] if palette else
                              None),
    }


def preprocessor_metadata(pre) -> Dict[str, str]:
    """The entries of a data preprocessor (mmengine's, mmdet's or
    mmpretrain's): channel conversion, mean and std (float32 values,
    exactly), the multiple it pads to and the value it pads with."""
    import torch
    flip = bool(getattr(pre, '_channel_conversion',
                        getattr(pre, 'to_rgb', False)))
    normalize = bool(getattr(pre, '_enable_normalize', False))
    mean = pre.mean.flatten().float().tolist() if normalize else [0.0]
    std = pre.std.flatten().float().tolist() if normalize else [1.0]
    pad_value = getattr(pre, 'pad_value', 0)
    if isinstance(pad_value, torch.Tensor):
        pad_value = pad_value.item()
    return {
        'mean': json.dumps(mean),
        'std': json.dumps(std),
        'bgr_to_rgb': json.dumps(flip),
        'pad_value': json.dumps(float(pad_value)),
    }
