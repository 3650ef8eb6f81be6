"""Every config is named as docs/config_naming.md says."""
import glob
import os.path as osp
import re

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BACKBONE = (r'(shufflenet-v1-[\d.]+x-g\d|shufflenet-v2(-star)?-[\d.]+x'
            r'|shufflenet-v2-plus-(small|medium|large)|mobilenet-v2-[\d.]+x'
            r'|shufflenet-v2-(ex)?large|oneshot'
            r'|detnas-(coco|voc)-(fpn|retinanet)-[\d.]+[mg])')
# `_megvii-in1k`: evaluation of the authors' (MEGVII's) published weights
CLS = re.compile(rf'{BACKBONE}(_\d+xb\d+(-\d+e)?_(?P<data>in1k|toy-shapes)'
                 r'|_megvii-in1k)')
DET = re.compile(rf'(?P<algo>retinanet|retinanet-lite|faster-rcnn'
                 rf'|ssdlite|rtmdet-lite|light-head-rcnn)'
                 rf'_{BACKBONE}_(fpn|lite-fpn|small-head|(?P<size>\d+))'
                 rf'(_(\d+x|\d+e))?'
                 r'_(?P<data>coco|voc0712|toy-det)')
FOLDER = {'retinanet': 'retinanet', 'retinanet-lite': 'retinanet',
          'faster-rcnn': 'faster_rcnn', 'ssdlite': 'ssdlite',
          'rtmdet-lite': 'rtmdet_lite',
          'light-head-rcnn': 'light_head_rcnn'}
#: fixed-input single-stage detectors: named by their input size
SIZED = ('ssdlite', 'rtmdet-lite')
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
    if '_base_' not in p)


@pytest.mark.parametrize('path', CONFIGS,
                         ids=lambda p: osp.relpath(p, ROOT))
def test_config_name_follows_the_convention(path):
    folder = osp.basename(osp.dirname(path))
    name = osp.basename(path)[:-3]
    cls, det = CLS.fullmatch(name), DET.fullmatch(name)
    assert cls or det, f'{name} does not follow docs/config_naming.md'
    if det:
        # the DetNAS detectors live with their backbones
        assert folder in (FOLDER[det['algo']], 'toy') or (
            folder == 'detnas' and '_detnas-' in name), path
        assert (det['data'] == 'toy-det') == (folder == 'toy'), path
        assert bool(det['size']) == (det['algo'] in SIZED), path
    else:
        family = re.match(
            r'(shufflenet-v1|shufflenet-v2-plus|shufflenet-v2-large'
            r'|shufflenet-v2|mobilenet-v2|oneshot|detnas)',
            name.replace('-exlarge', '-large')).group(1).replace('-', '_')
        assert folder in (family, 'toy'), path
        assert (cls['data'] == 'toy-shapes') == (folder == 'toy'), path
