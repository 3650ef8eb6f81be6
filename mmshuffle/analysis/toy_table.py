"""The toy accuracy-latency table of docs/detection.md: which detector
configs it holds, and how a recorded run is rendered (Markdown, plot).

A run is two JSON files: ``tools/analysis_tools/toy_det_table.py``'s
(``docs/benchmarks/det_toy.json``: per detector the training budget, the
box mAP on the toy val split, parameters and FLOPs) and
``tools/analysis_tools/benchmark.py det --toy``'s
(``docs/benchmarks/det_toy_latency.json``: the same detectors' forward
latency).
"""
import os.path as osp
from typing import Dict, List

#: the table's detector families, in its order
FAMILIES = ('retinanet', 'retinanet-lite', 'ssdlite', 'rtmdet-lite')
#: the table's backbones, in its order
BACKBONES = ('shufflenet-v2-1x', 'shufflenet-v1-1x-g3', 'mobilenet-v2-1x')
FAMILY_LABELS = {
    'retinanet': 'RetinaNet (CPU-sized)',
    'retinanet-lite': 'RetinaNet-lite',
    'ssdlite': 'SSDLite',
    'rtmdet-lite': 'RTMDet-lite',
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


def _latency(latency: Dict, model: str, threads: int) -> Dict:
    rows = [r for r in latency['results']
            if r['model'] == model and r['threads'] == threads
            and r['size'] == TOY_SIZE and r['path'] == 'forward']
    if len(rows) != 1:
        raise ValueError(f'the latency run has {len(rows)} forward rows '
                         f'for {model!r} at {TOY_SIZE}, {threads} '
                         'thread(s); expected 1')
    return rows[0]


def latencies(latency: Dict, model: str) -> Dict[str, float]:
    """The forward latency of ``model`` at 320: ``one`` = the median CPU
    time per call with 1 thread (the wall time on an idle machine),
    ``all`` = the median wall time with all cores."""
    cores = max(latency['threads'])
    return dict(one=_latency(latency, model, 1)['cpu_median_ms'],
                all=_latency(latency, model, cores)['median_ms'],
                cores=cores)


def accuracy_latency_table(table: Dict, latency: Dict) -> str:
    """The recorded runs as one Markdown table, a row per detector."""
    cores = max(latency['threads'])
    lines = [
        '| backbone | detector | params | MFLOPs | latency 1 thread ms | '
        f'latency {cores} threads ms | bbox mAP | mAP50 | training s |',
        '|---|---|---:|---:|---:|---:|---:|---:|---:|'
    ]
    for row in table['results']:
        lat = latencies(latency, row['model'])
        lines.append(
            f'| {BACKBONE_LABELS[row["backbone"]]} | '
            f'{FAMILY_LABELS[row["family"]]} | {row["params"] / 1e6:.3f} M '
            f'| {row["flops"] / 1e6:.1f} | {lat["one"]:.1f} | '
            f'{lat["all"]:.1f} | {row["bbox_mAP"]:.3f} | '
            f'{row["bbox_mAP_50"]:.3f} | {row["train_seconds"]:.0f} |')
    return '\n'.join(lines)


def _pick(table: Dict, family: str, backbone: str) -> Dict:
    rows = [r for r in table['results']
            if r['family'] == family and r['backbone'] == backbone]
    if len(rows) != 1:
        raise ValueError(f'the run has {len(rows)} rows for {family} on '
                         f'{backbone}; expected 1')
    return rows[0]


def rtmdet_target_table(table: Dict, latency: Dict) -> str:
    """The target (RTMDet-lite: higher toy bbox mAP than RetinaNet-lite at
    no more than its 1-thread latency) per backbone of the run, as
    Markdown."""
    lines = [
        '| backbone | bbox mAP RTMDet-lite / RetinaNet-lite | latency '
        '1 thread RTMDet-lite / RetinaNet-lite | verdict |',
        '|---|---|---|---|'
    ]
    present = {r['backbone'] for r in table['results']}
    for backbone in [b for b in BACKBONES if b in present]:
        rtm = _pick(table, 'rtmdet-lite', backbone)
        ret = _pick(table, 'retinanet-lite', backbone)
        t_rtm = latencies(latency, rtm['model'])['one']
        t_ret = latencies(latency, ret['model'])['one']
        better = rtm['bbox_mAP'] > ret['bbox_mAP']
        faster = t_rtm <= t_ret
        misses = []
        if not better:
            misses.append(f'mAP {ret["bbox_mAP"] - rtm["bbox_mAP"]:.3f} '
                          'lower')
        if not faster:
            misses.append(f'{t_rtm / t_ret - 1:.0%} slower')
        verdict = 'met' if not misses else 'missed: ' + ', '.join(misses)
        lines.append(
            f'| {BACKBONE_LABELS[backbone]} | {rtm["bbox_mAP"]:.3f} / '
            f'{ret["bbox_mAP"]:.3f} | {t_rtm:.1f} / {t_ret:.1f} ms '
            f'({t_rtm / t_ret:.2f}x) | {verdict} |')
    return '\n'.join(lines)


def draw_map_latency(table: Dict, latency: Dict, png: str) -> str:
    """bbox mAP against 1-thread forward latency, one point per detector
    and backbone (marker = detector, colour = backbone), as PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    markers = dict(zip(FAMILIES, ('o', 's', '^', 'D')))
    colours = dict(zip(BACKBONES, ('tab:blue', 'tab:orange', 'tab:green')))
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for row in table['results']:
        x = latencies(latency, row['model'])['one']
        ax.scatter(x, row['bbox_mAP'], marker=markers[row['family']],
                   color=colours[row['backbone']], s=60)
    present = {r['family'] for r in table['results']}
    for family in FAMILIES:
        if family in present:
            ax.scatter([], [], marker=markers[family], color='grey',
                       label=FAMILY_LABELS[family])
    for backbone in BACKBONES:
        if backbone in {r['backbone'] for r in table['results']}:
            ax.scatter([], [], marker='o', color=colours[backbone],
                       label=BACKBONE_LABELS[backbone])
    ax.set_xscale('log')
    ax.set_xlabel(f'forward latency at {TOY_SIZE}x{TOY_SIZE}, batch 1, '
                  '1 thread (ms, log scale)')
    epochs = sorted({r['epochs'] for r in table['results']})
    ax.set_ylabel(f'toy bbox mAP ({"/".join(map(str, epochs))} epochs)')
    ax.set_title('Toy detection: accuracy against CPU latency')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
