"""The figures of docs/benchmarks.md and docs/detection.md, rendered from
recorded runs: Markdown tables, the targets' verdicts and the charts.

Every function takes a run as its JSON file holds it (a dict):
``benchmark.py cls`` and ``det`` runs, ``toy_det_table.py``'s table; the
tests check that the pages show exactly what these render.
"""
from typing import Dict, List

from .toy_table import (BACKBONE_LABELS, BACKBONES, FAMILIES, FAMILY_LABELS,
                        TOY_SIZE)

#: the runtime targets of docs/benchmarks.md
TARGET_FLOOR = 1.5     # best fp32 runtime / compute floor (classifier)
TARGET_INT8 = 0.6      # best INT8 / onnxruntime fp32 (classifier)
TARGET_E2E = 0.3       # best runtime / PyTorch eager (detector, e2e)
#: the PyTorch paths of a classifier run (the others run in a runtime)
TORCH_PATHS = ('mmshuffle', '+deploy', '+channels_last', '+compile')


# ----------------------------------------------------------------------
# classifiers
# ----------------------------------------------------------------------
def draw_chart(rows: List[Dict], png: str, threads: int = 1) -> str:
    """A bar chart of batch-1 latency per path and architecture (one
    thread count) as PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = [r for r in rows if r['threads'] == threads]
    archs = list(dict.fromkeys(r['arch'] for r in rows))
    paths = list(dict.fromkeys(r['path'] for r in rows))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(1, len(paths))
    for j, path in enumerate(paths):
        xs, ys = [], []
        for i, arch in enumerate(archs):
            match = [r for r in rows if r['arch'] == arch
                     and r['path'] == path]
            if match:
                xs.append(i + (j - (len(paths) - 1) / 2) * width)
                ys.append(match[0]['median_ms'])
        ax.bar(xs, ys, width, label=path)
    ax.set_xticks(range(len(archs)))
    ax.set_xticklabels(archs)
    ax.set_ylabel('latency, batch 1 (ms, median)')
    ax.set_title(f'CPU inference, {threads} thread(s), fp32')
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def markdown_table(rows: List[Dict], threads: int) -> str:
    """The rows of one thread count as a Markdown table (latency, p90,
    ratio to the reference, throughput)."""
    lines = [
        '| model | path | latency ms (median) | p90 ms | ratio | '
        'img/s at batch 32 |', '|---|---|---:|---:|---:|---:|'
    ]
    for row in rows:
        if row['threads'] != threads:
            continue
        ratio = f'{row["ratio"]:.2f}x' if row.get('ratio') else '-'
        lines.append(
            f'| {row["arch"]} | {row["path"]} | {row["median_ms"]:.2f} | '
            f'{row["p90_ms"]:.2f} | {ratio} | {row["throughput"]:.0f} |')
    return '\n'.join(lines)


def _row(rows: List[Dict], arch: str, path: str, threads: int) -> Dict:
    match = [r for r in rows if r['arch'] == arch and r['path'] == path
             and r['threads'] == threads]
    if not match:
        raise ValueError(f'the run has no {path!r} row for {arch!r} at '
                         f'{threads} thread(s)')
    return match[0]


def targets_table(data: Dict, arch: str = 'shufflenet-v2-1x',
                  threads: int = 1) -> str:
    """The targets of docs/benchmarks.md as a Markdown table, from a
    recorded ``benchmark.py cls`` run (its JSON as a dict)."""
    rows = data['results']
    best = min((_row(rows, arch, p, threads) for p in TORCH_PATHS),
               key=lambda r: r['median_ms'])
    eager_best = min((_row(rows, arch, p, threads) for p in TORCH_PATHS
                      if p != '+compile'), key=lambda r: r['median_ms'])
    ort = _row(rows, arch, 'onnxruntime', threads)
    theirs = _row(rows, arch, 'torchvision onnxruntime', threads)
    gap = ort['median_ms'] / theirs['median_ms'] - 1
    beaten = (f'beaten: {ort["median_ms"]:.2f} ms vs '
              f'{theirs["median_ms"]:.2f} ms' if gap < 0 else
              f'not beaten: {ort["median_ms"]:.2f} ms vs '
              f'{theirs["median_ms"]:.2f} ms ({gap:.0%} slower; see below)')
    lines = [
        '| target | measured |', '|---|---|',
        f'| best PyTorch path <= 0.6x torchvision eager | `{best["path"]}` '
        f'{best["median_ms"]:.2f} ms = **{best["ratio"]:.2f}x** '
        f'(`{eager_best["path"]}` without compiling: '
        f'{eager_best["ratio"]:.2f}x) |',
        f'| onnxruntime <= 0.35x torchvision eager | {ort["median_ms"]:.2f} '
        f'ms = **{ort["ratio"]:.2f}x** |',
        f'| beat onnxruntime on torchvision\'s export | {beaten} |',
    ]
    for other, label in (('mobilenet-v2-1x', 'MobileNetV2 1x'),
                         ('shufflenet-v1-1x-g3',
                          'ShuffleNetV1 1x g3 (vs mmpretrain)')):
        if not any(r['arch'] == other for r in rows):
            continue
        lines.append(
            f'| {label} | `+compile` '
            f'{_row(rows, other, "+compile", threads)["ratio"]:.2f}x, '
            'onnxruntime '
            f'{_row(rows, other, "onnxruntime", threads)["ratio"]:.2f}x |')
    return '\n'.join(lines)


def floor_section(data: Dict, threads: int = 1) -> str:
    """The compute floor of docs/benchmarks.md (the measured sgemm peaks
    and the table) as Markdown, from a recorded ``benchmark.py cls`` run."""
    sgemm = data['sgemm_gflops_1thread']
    faster = 'onnxruntime' if sgemm['onnxruntime'] >= sgemm['torch'] \
        else 'torch.mm'
    lines = [
        'The same command measures single-thread fp32 matrix '
        f'multiplication: torch.mm {sgemm["torch"]:.0f} GFLOP/s, '
        f'onnxruntime\'s MatMul {sgemm["onnxruntime"]:.0f} GFLOP/s; the '
        f'floor uses the faster ({faster}). At {sgemm["peak"]:.0f} GFLOP/s '
        'the convolution and fully-connected multiply-adds (x2 FLOPs) take:',
        '',
        '| model | mult-adds | floor | onnxruntime | onnxruntime / floor |',
        '|---|---:|---:|---:|---:|'
    ]
    for floor in data['floor']:
        ort = _row(data['results'], floor['arch'], 'onnxruntime', threads)
        lines.append(
            f'| {floor["arch"]} | {floor["mult_adds"] / 1e6:.1f} M | '
            f'{floor["floor_ms"]:.2f} ms | {ort["median_ms"]:.2f} ms | '
            f'{ort["median_ms"] / floor["floor_ms"]:.1f}x |')
    return '\n'.join(lines)


def precision_label(row: Dict) -> str:
    """What a row computed in: ``fp32``, OpenVINO's reported precision,
    or INT8 (QDQ: the quantized convolutions; the rest in float)."""
    if row['path'].endswith('int8'):
        rest = row.get('precision', 'f32')
        return f'int8 (rest {rest})'
    return row.get('precision', 'fp32')


def _verdict(value: float, target: float) -> str:
    if value <= target:
        return f'**met** ({value:.2f}x <= {target}x)'
    return (f'**missed** by {value / target - 1:.0%} ({value:.2f}x > '
            f'{target}x)')


def runtime_table(rows: List[Dict], threads: int) -> str:
    """One thread count of a classifier run with runtime paths as a
    Markdown table (latency, p90, precision, ratio, throughput)."""
    lines = [
        '| model | path | precision | latency ms (median) | p90 ms | ratio '
        '| img/s at batch 32 |', '|---|---|---|---:|---:|---:|---:|'
    ]
    for row in rows:
        if row['threads'] != threads:
            continue
        ratio = f'{row["ratio"]:.2f}x' if row.get('ratio') else '-'
        precision = precision_label(row)
        lines.append(
            f'| {row["arch"]} | {row["path"]} | {precision} | '
            f'{row["median_ms"]:.2f} | {row["p90_ms"]:.2f} | {ratio} | '
            f'{row["throughput"]:.0f} |')
    return '\n'.join(lines)


def runtime_targets_table(data: Dict, arch: str = 'shufflenet-v2-1x',
                          threads: int = 1) -> str:
    """The classifier runtime targets of docs/benchmarks.md (best fp32
    runtime against the compute floor, INT8 against onnxruntime fp32) as
    a Markdown table, from a recorded ``benchmark.py cls`` run."""
    rows = data['results']
    (floor, ) = [f for f in data['floor'] if f['arch'] == arch]
    present = {r['path'] for r in rows if r['arch'] == arch}
    fp32 = [_row(rows, arch, p, threads) for p in (
        'onnxruntime', 'openvino', 'executorch', 'ncnn') if p in present]
    int8 = [_row(rows, arch, p, threads) for p in (
        'onnxruntime int8', 'openvino int8', 'executorch int8')
        if p in present]
    best = min(fp32, key=lambda r: r['median_ms'])
    best8 = min(int8, key=lambda r: r['median_ms'])
    ort = fp32[0]
    to_floor = best['median_ms'] / floor['floor_ms']
    to_ort = best8['median_ms'] / ort['median_ms']
    others = '; '.join(f'`{r["path"]}` {r["median_ms"]:.2f} ms'
                       for r in fp32 + int8 if r not in (best, best8))
    return '\n'.join([
        '| target | measured | verdict |', '|---|---|---|',
        f'| best fp32 runtime <= {TARGET_FLOOR}x the compute floor '
        f'({floor["floor_ms"]:.2f} ms) | `{best["path"]}` '
        f'({precision_label(best)}) {best["median_ms"]:.2f} ms = '
        f'{to_floor:.2f}x | {_verdict(to_floor, TARGET_FLOOR)} |',
        f'| INT8 <= {TARGET_INT8}x onnxruntime fp32 '
        f'({ort["median_ms"]:.2f} ms) | `{best8["path"]}` '
        f'{best8["median_ms"]:.2f} ms = {to_ort:.2f}x | '
        f'{_verdict(to_ort, TARGET_INT8)} |',
        f'| (the other runtime rows) | {others} | |',
    ])


def profile_table(profile: Dict) -> str:
    """An onnxruntime profile (:func:`ort_op_profile`) as a Markdown
    table: the operator types by time per call."""
    lines = ['| operator | ms per call | share | nodes |',
             '|---|---:|---:|---:|']
    for op in profile['ops']:
        lines.append(f'| {op["op"]} | {op["ms"]:.2f} | {op["share"]:.0%} | '
                     f'{op["nodes"]} |')
    lines.append(f'| all kernels | {profile["total_ms"]:.2f} | 100% | '
                 f'{sum(o["nodes"] for o in profile["ops"])} |')
    return '\n'.join(lines)


# ----------------------------------------------------------------------
# detectors
# ----------------------------------------------------------------------
def detector_table(data: Dict) -> str:
    """The detector latencies of a recorded ``benchmark.py det`` run as a
    Markdown table: one row per model; per size, the median CPU time of
    the forward pass and its ratio to the reference's."""
    rows = data['results']
    sizes = list(dict.fromkeys(r['size'] for r in rows))
    models = list(dict.fromkeys(r['model'] for r in rows))
    head = '| model | ' + ' | '.join(f'{s}x{s} ms | ratio'
                                       for s in sizes) + ' |'
    lines = [head, '|---|' + '---:|---:|' * len(sizes)]
    for model in models:
        cells = []
        for size in sizes:
            (row, ) = [r for r in rows
                       if r['model'] == model and r['size'] == size]
            cells += [f'{row["cpu_median_ms"]:.1f}',
                      f'{row["cpu_ratio"]:.2f}']
        label = f'`{model}`'
        if row['reference']:
            label = f'mmdet\'s `{model}` (the reference)'
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def detector_ratio_range(data: Dict, lite: bool, size: int) -> str:
    """``'0.10x-0.19x'``: the smallest and largest CPU-time ratio to the
    reference of the (lite or stock) RetinaNet configs at ``size``."""
    ratios = [
        r['cpu_ratio'] for r in data['results']
        if r['size'] == size and not r['reference']
        and r['model'].startswith('retinanet') and
        r['model'].startswith('retinanet-lite') == lite
    ]
    if not ratios:
        raise ValueError(f'the run has no {"lite " if lite else ""}'
                         f'RetinaNet rows at size {size}')
    return f'{min(ratios):.2f}x-{max(ratios):.2f}x'


def _e2e_value(row: Dict, threads: int):
    """1 thread: CPU time (and its ratios); more: wall time."""
    if threads == 1:
        return (row['cpu_median_ms'], row.get('cpu_eager_ratio'),
                row.get('cpu_ratio'))
    return row['median_ms'], row.get('eager_ratio'), row.get('ratio')


def e2e_table(data: Dict, threads: int) -> str:
    """One thread count of a recorded end-to-end ``benchmark.py det`` run
    as a Markdown table: per size, the median time (1 thread: CPU time;
    more: wall time), its ratio to the same model's PyTorch eager row and
    to the reference's."""
    rows = [r for r in data['results']
            if r['threads'] == threads and r['path'] != 'forward']
    sizes = list(dict.fromkeys(r['size'] for r in rows))
    keys = list(dict.fromkeys((r['model'], r['path']) for r in rows))
    lines = ['| model | path | precision | ' + ' | '.join(
        f'{s}x{s} ms | vs eager | vs R18' for s in sizes) + ' |',
        '|---|---|---|' + '---:|---:|---:|' * len(sizes)]

    def fmt(value):
        return '-' if value is None else f'{value:.2f}'

    for model, path in keys:
        cells = []
        for size in sizes:
            (row, ) = [r for r in rows if r['model'] == model
                       and r['path'] == path and r['size'] == size]
            ms, eager, ref = _e2e_value(row, threads)
            cells += [f'{ms:.1f}', fmt(eager), fmt(ref)]
        label = f'mmdet\'s `{model}` (reference)' if row['reference'] \
            else f'`{model}`'
        precision = precision_label(row) if path != 'pytorch' else 'fp32'
        lines.append(f'| {label} | {path} | {precision} | '
                     + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def e2e_targets_table(data: Dict, model: str, size: int = 320) -> str:
    """The detector target of docs/benchmarks.md (``model`` at ``size``,
    1 thread: best runtime against PyTorch eager, CPU time) as Markdown,
    from a recorded end-to-end ``benchmark.py det`` run."""
    rows = [r for r in data['results'] if r['model'] == model
            and r['size'] == size and r['threads'] == 1]
    eager = [r for r in rows if r['path'] == 'pytorch']
    runtimes = [r for r in rows if r['path'] not in ('pytorch', 'forward')]
    if not eager or not runtimes:
        raise ValueError(f'the run has no 1-thread pytorch and runtime rows '
                         f'of {model!r} at {size}')
    eager = eager[0]
    best = min(runtimes, key=lambda r: r['cpu_median_ms'])
    fp32 = min((r for r in runtimes if not r['path'].endswith('int8')),
               key=lambda r: r['cpu_median_ms'])
    lines = [
        '| target | measured | verdict |', '|---|---|---|',
        f'| `{model}` at {size}x{size}, 1 thread: best runtime <= '
        f'{TARGET_E2E}x PyTorch eager ({eager["cpu_median_ms"]:.1f} ms) | '
        f'`{best["path"]}` ({precision_label(best)}) '
        f'{best["cpu_median_ms"]:.1f} ms = {best["cpu_eager_ratio"]:.2f}x | '
        f'{_verdict(best["cpu_eager_ratio"], TARGET_E2E)} |',
    ]
    if fp32 is not best:
        lines.append(
            f'| the same, fp32 only | `{fp32["path"]}` '
            f'({precision_label(fp32)}) {fp32["cpu_median_ms"]:.1f} ms = '
            f'{fp32["cpu_eager_ratio"]:.2f}x | '
            f'{_verdict(fp32["cpu_eager_ratio"], TARGET_E2E)} |')
    return '\n'.join(lines)


# ----------------------------------------------------------------------
# the toy accuracy-latency table (docs/detection.md)
# ----------------------------------------------------------------------
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


def short_cpu(name: str) -> str:
    """``Intel(R) Xeon(R) Processor`` -> ``Intel Xeon``."""
    for noise in ('(R)', '(TM)', ' Processor', ' CPU'):
        name = name.replace(noise, '')
    return ' '.join(name.split())


def accuracy_latency_table(table: Dict, latency: Dict) -> str:
    """The recorded runs as one Markdown table, a row per detector. Rows
    trained on different CPUs (training seconds are their CPU's) get a
    ``trained on`` column."""
    cores = max(latency['threads'])
    cpus = {r.get('cpu', table.get('cpu')) for r in table['results']}
    mixed = len(cpus) > 1
    lines = [
        '| backbone | detector | params | MFLOPs | latency 1 thread ms | '
        f'latency {cores} threads ms | bbox mAP | mAP50 | training s |' +
        (' trained on |' if mixed else ''),
        '|---|---|---:|---:|---:|---:|---:|---:|---:|' + ('---|' if mixed
                                                          else '')
    ]
    for row in table['results']:
        lat = latencies(latency, row['model'])
        cpu = (f' {short_cpu(row.get("cpu", table.get("cpu")))} |'
               if mixed else '')
        lines.append(
            f'| {BACKBONE_LABELS[row["backbone"]]} | '
            f'{FAMILY_LABELS[row["family"]]} | {row["params"] / 1e6:.3f} M '
            f'| {row["flops"] / 1e6:.1f} | {lat["one"]:.1f} | '
            f'{lat["all"]:.1f} | {row["bbox_mAP"]:.3f} | '
            f'{row["bbox_mAP_50"]:.3f} | {row["train_seconds"]:.0f} |' + cpu)
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
    markers = dict(zip(FAMILIES, ('o', 's', '^', 'D', 'v')))
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
