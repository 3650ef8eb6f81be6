"""The model index, metafiles and family READMEs agree with the code."""
import os.path as osp
import re

import pytest
import yaml
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401
from mmshuffle.analysis import model_complexity

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def metafiles():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        return yaml.safe_load(f)['Import']


def entries():
    for meta in metafiles():
        with open(osp.join(ROOT, meta)) as f:
            data = yaml.safe_load(f)
        collections = {c['Name'] for c in data['Collections']}
        for model in data['Models']:
            yield meta, collections, model


ENTRIES = list(entries())


def test_every_config_is_indexed():
    import glob
    indexed = {m['Config'] for _, _, m in ENTRIES}
    for fam in ('shufflenet_v1', 'shufflenet_v2', 'shufflenet_v2_plus',
                'mobilenet_v2', 'retinanet', 'faster_rcnn', 'ssdlite',
                'rtmdet_lite', 'detnas', 'oneshot', 'shufflenet_v2_large',
                'light_head_rcnn'):
        for path in glob.glob(osp.join(ROOT, 'configs', fam, '*.py')):
            assert osp.relpath(path, ROOT) in indexed, path


@pytest.mark.parametrize('meta,collections,model', ENTRIES,
                         ids=[m['Name'] for _, _, m in ENTRIES])
def test_metafile_entry_matches_the_model(meta, collections, model):
    cfg_path = osp.join(ROOT, model['Config'])
    assert osp.isfile(cfg_path)
    assert osp.basename(cfg_path)[:-3] == model['Name']
    assert model['In Collection'] in collections
    assert osp.dirname(meta) == osp.dirname(model['Config'])
    cfg = Config.fromfile(cfg_path)
    if cfg.default_scope == 'mmdet':
        # detectors: the parameters of the whole model (get_flops.py total)
        from mmdet.registry import MODELS
        with DefaultScope.overwrite_default_scope('mmdet'):
            built = MODELS.build(cfg.model)
        assert model['Metadata']['Parameters'] == sum(
            p.numel() for p in built.parameters())
        return
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        built = MODELS.build(cfg.model)
    info = model_complexity(built, (224, 224))
    assert model['Metadata']['Parameters'] == info['params']
    assert model['Metadata']['FLOPs'] == info['flops']
    # the family README shows the same figures
    readme = open(osp.join(ROOT, osp.dirname(meta), 'README.md')).read()
    row = re.search(rf'\[`{re.escape(model["Name"])}`\].*', readme)
    assert row, f'{model["Name"]} missing from the README table'
    cells = [c.strip() for c in row.group(0).split('|')]
    assert cells[1] == f'{info["params"] / 1e6:.3f} M'
    assert cells[2] == f'{info["flops"] / 1e6:.1f}'
    # published figures, labelled with their source (the authors' for
    # MEGVII's weights)
    source = 'MEGVII' if model.get('Weights Source', '').startswith(
        'MEGVII') else 'mmpretrain'
    for result in model.get('Results', []):
        top1 = result['Metrics']['Top 1 Accuracy']
        assert f"{source} {top1}" in cells[3]
