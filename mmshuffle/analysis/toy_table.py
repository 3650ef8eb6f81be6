"""The toy accuracy-latency table of docs/detection.md: which detector
configs it holds (its rendering: :mod:`mmshuffle.analysis.report`).

A run is two JSON files: ``tools/analysis_tools/toy_det_table.py``'s
(``docs/benchmarks/det_toy.json``: per detector the training budget, the
box mAP on the toy val split, parameters and FLOPs) and
``tools/analysis_tools/benchmark.py det --toy``'s
(``docs/benchmarks/det_toy_latency.json``: the same detectors' forward
latency).
"""
import os.path as osp
from typing import List

#: the table's detector families, in its order
FAMILIES = ('retinanet', 'retinanet-lite', 'ssdlite', 'rtmdet-lite',
            'light-head-rcnn')
#: the table's backbones, in its order
BACKBONES = ('shufflenet-v2-1x', 'shufflenet-v1-1x-g3', 'mobilenet-v2-1x')
FAMILY_LABELS = {
    'retinanet': 'RetinaNet (CPU-sized)',
    'retinanet-lite': 'RetinaNet-lite',
    'ssdlite': 'SSDLite',
    'rtmdet-lite': 'RTMDet-lite',
    'light-head-rcnn': 'Light-Head R-CNN',
}
BACKBONE_LABELS = {
    'shufflenet-v2-1x': 'ShuffleNet V2 1x',
    'shufflenet-v1-1x-g3': 'ShuffleNet V1 1x g3',
    'mobilenet-v2-1x': 'MobileNet V2 1x',
}
_SUFFIX = {
    'retinanet': 'fpn',
    'retinanet-lite': 'lite-fpn',
    'ssdlite': '320',
    'rtmdet-lite': '320',
    'light-head-rcnn': 'small-head',
}
#: the input size of every toy detector (the toy images are 320x320)
TOY_SIZE = 320


def toy_det_config(family: str, backbone: str) -> str:
    """``configs/toy/<family>_<backbone>_<neck or size>_toy-det.py``."""
    if family not in FAMILIES:
        raise ValueError(f'family must be one of {FAMILIES}, got '
                         f'{family!r}')
    if backbone not in BACKBONES:
        raise ValueError(f'backbone must be one of {BACKBONES}, got '
                         f'{backbone!r}')
    return osp.join('configs', 'toy',
                    f'{family}_{backbone}_{_SUFFIX[family]}_toy-det.py')


def toy_det_configs() -> List[str]:
    """Every config of the table, backbone by backbone."""
    return [toy_det_config(f, b) for b in BACKBONES for f in FAMILIES]
