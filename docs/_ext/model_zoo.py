"""Write ``_generated/model_zoo.md`` from the metafiles of model-index.yml.

The model zoo page is never edited by hand: every build regenerates it from
``configs/*/metafile.yml`` (names, configs, parameters, FLOPs, published
accuracy and weights).
"""
import os.path as osp

import yaml

DOCS = osp.dirname(osp.dirname(osp.abspath(__file__)))
ROOT = osp.dirname(DOCS)
HEADER = """# Model zoo

Generated from `model-index.yml` and the `metafile.yml` of each config folder;
parameters and FLOPs are those printed by `tools/analysis_tools/get_flops.py`
(classifiers at 224x224 with the 1000-class head), and
`tests/test_metafiles.py` checks them against the built models. Top-1 is the
published accuracy of the weights listed, which load into these configs
directly (see [pretrained weights](../weights.md)); a blank cell means no
public weights.

"""

DET_NOTE = """Parameters of the whole detector (80 classes for COCO, 20 for
PASCAL VOC). Their accuracy has not been measured here; a published figure
is the source's own (see the family README).

"""


def classification_table(entries) -> str:
    rows = ['| config | params (M) | FLOPs (M) | top-1 | top-5 | weights |',
            '|---|---|---|---|---|---|']
    for model in entries:
        md = model['Metadata']
        top1 = top5 = ''
        for result in model.get('Results', []):
            top1 = result['Metrics'].get('Top 1 Accuracy', '')
            top5 = result['Metrics'].get('Top 5 Accuracy', '')
        weights = (f"[download]({model['Weights']})"
                   if 'Weights' in model else '')
        rows.append(f"| `{model['Config']}` | {md['Parameters'] / 1e6:.3f} "
                    f"| {md['FLOPs'] / 1e6:.1f} | {top1} | {top5} "
                    f'| {weights} |')
    return '\n'.join(rows) + '\n'


def detection_table(entries) -> str:
    rows = ['| config | params (M) | published box AP (source\'s) |',
            '|---|---|---|']
    for model in entries:
        published = ''
        for result in model.get('Results', []):
            published = result['Metrics'].get('box AP', '')
        rows.append(f"| `{model['Config']}` "
                    f"| {model['Metadata']['Parameters'] / 1e6:.3f} "
                    f'| {published} |')
    return '\n'.join(rows) + '\n'


def render(root: str = ROOT) -> str:
    """The Markdown text of the model zoo page."""
    with open(osp.join(root, 'model-index.yml')) as f:
        metas = yaml.safe_load(f)['Import']
    parts = [HEADER]
    for meta in metas:
        with open(osp.join(root, meta)) as f:
            data = yaml.safe_load(f)
        for coll in data['Collections']:
            paper = coll['Paper']
            parts.append(f"## {coll['Name']}\n\n"
                         f"[{paper['Title']}]({paper['URL']}); "
                         f"details: `{coll['README']}`.\n\n")
            entries = [
                m for m in data['Models'] if m['In Collection'] == coll['Name']
            ]
            # detectors: no FLOPs at a fixed input (their size varies)
            if all('FLOPs' not in m['Metadata'] for m in entries):
                parts.append(DET_NOTE)
                parts.append(detection_table(entries))
            else:
                parts.append(classification_table(entries))
            parts.append('\n')
    return ''.join(parts)


def write(app):
    import os

    out_dir = osp.join(app.srcdir, '_generated')
    path = osp.join(out_dir, 'model_zoo.md')
    text = render()
    old = open(path).read() if osp.isfile(path) else None
    if text != old:  # keep the mtime, so Sphinx only rebuilds on changes
        os.makedirs(out_dir, exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)


def setup(app):
    app.connect('builder-inited', write)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
