"""The phone runtimes' figures of docs/benchmarks.md (ExecuTorch with
XNNPACK, ncnn) against onnxruntime and the compute floor, rendered from
recorded ``benchmark.py cls`` and ``det`` runs (the tests check that the
page shows exactly what these render)."""
from typing import Dict, List

from .report import _row, _verdict, precision_label

#: classifier: ExecuTorch fp32 / onnxruntime fp32, ExecuTorch INT8 /
#: onnxruntime fp32 (ShuffleNetV2 1x, batch 1, 1 thread)
TARGET_ET_FP32 = 1.0
TARGET_ET_INT8 = 0.7
#: detector end to end (NMS included): best fp32 runtime / PyTorch eager,
#: best INT8 runtime / onnxruntime fp32
TARGET_DET_FP32 = 0.3
TARGET_DET_INT8 = 0.7
#: the runtime paths, fp32 then INT8, in the tables' order
FP32_RUNTIMES = ('onnxruntime', 'openvino', 'executorch', 'ncnn')
INT8_RUNTIMES = ('onnxruntime int8', 'openvino int8', 'executorch int8')


def _present(rows: List[Dict], paths) -> List[str]:
    return [p for p in paths if any(r['path'] == p for r in rows)]


def floor_by_runtime(data: Dict, threads: int = 1) -> str:
    """Each classifier's latency per runtime as a multiple of its compute
    floor (``benchmark.py cls``'s sgemm-peak floor), as Markdown."""
    rows = data['results']
    paths = _present(rows, FP32_RUNTIMES + INT8_RUNTIMES)
    lines = ['| model | floor | ' + ' | '.join(paths) + ' |',
             '|---|---:|' + '---:|' * len(paths)]
    for floor in data['floor']:
        cells = []
        for path in paths:
            match = [r for r in rows if r['arch'] == floor['arch'] and
                     r['path'] == path and r['threads'] == threads]
            cells.append('-' if not match else
                         f'{match[0]["median_ms"]:.2f} ms = '
                         f'{match[0]["median_ms"] / floor["floor_ms"]:.1f}x')
        lines.append(f'| {floor["arch"]} | {floor["floor_ms"]:.2f} ms | ' +
                     ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def phone_targets_table(data: Dict, arch: str = 'shufflenet-v2-1x',
                        threads: int = 1) -> str:
    """The classifier's ExecuTorch targets (fp32 no slower than
    onnxruntime fp32, INT8 at most 0.7x of it) and ncnn's figure, as
    Markdown."""
    rows = data['results']
    ort = _row(rows, arch, 'onnxruntime', threads)
    lines = ['| target | measured | verdict |', '|---|---|---|']
    for path, target in (('executorch', TARGET_ET_FP32),
                         ('executorch int8', TARGET_ET_INT8)):
        row = _row(rows, arch, path, threads)
        ratio = row['median_ms'] / ort['median_ms']
        lines.append(
            f'| `{path}` <= {target}x onnxruntime fp32 '
            f'({ort["median_ms"]:.2f} ms) | {row["median_ms"]:.2f} ms = '
            f'{ratio:.2f}x | {_verdict(ratio, target)} |')
    if any(r['path'] == 'ncnn' and r['arch'] == arch for r in rows):
        row = _row(rows, arch, 'ncnn', threads)
        lines.append(
            f'| (`ncnn` fp32, no target) | {row["median_ms"]:.2f} ms = '
            f'{row["median_ms"] / ort["median_ms"]:.2f}x onnxruntime | |')
    return '\n'.join(lines)


def e2e_phone_targets_table(data: Dict, model: str, size: int = 320) -> str:
    """A detector's end-to-end targets (1 thread, CPU time): the best fp32
    runtime against PyTorch eager, the best INT8 runtime against
    onnxruntime fp32, as Markdown."""
    rows = [r for r in data['results'] if r['model'] == model
            and r['size'] == size and r['threads'] == 1]
    by_path = {r['path']: r for r in rows}
    if 'pytorch' not in by_path or 'onnxruntime' not in by_path:
        raise ValueError(f'the run has no 1-thread pytorch and onnxruntime '
                         f'rows of {model!r} at {size}')
    eager, ort = by_path['pytorch'], by_path['onnxruntime']
    fp32 = min((by_path[p] for p in FP32_RUNTIMES if p in by_path),
               key=lambda r: r['cpu_median_ms'])
    int8 = min((by_path[p] for p in INT8_RUNTIMES if p in by_path),
               key=lambda r: r['cpu_median_ms'])
    to_eager = fp32['cpu_median_ms'] / eager['cpu_median_ms']
    to_ort = int8['cpu_median_ms'] / ort['cpu_median_ms']
    return '\n'.join([
        '| target | measured | verdict |', '|---|---|---|',
        f'| `{model}` at {size}x{size}, 1 thread: best fp32 runtime <= '
        f'{TARGET_DET_FP32}x PyTorch eager ({eager["cpu_median_ms"]:.1f} '
        f'ms) | `{fp32["path"]}` ({precision_label(fp32)}) '
        f'{fp32["cpu_median_ms"]:.1f} ms = {to_eager:.2f}x | '
        f'{_verdict(to_eager, TARGET_DET_FP32)} |',
        f'| the same: best INT8 runtime <= {TARGET_DET_INT8}x onnxruntime '
        f'fp32 ({ort["cpu_median_ms"]:.1f} ms) | `{int8["path"]}` '
        f'{int8["cpu_median_ms"]:.1f} ms = {to_ort:.2f}x | '
        f'{_verdict(to_ort, TARGET_DET_INT8)} |',
    ])


#: the deployment matrix's latency columns: (label, classifier path,
#: detector path)
MATRIX_PATHS = (('PyTorch eager', 'mmshuffle', 'pytorch'),
                ('onnxruntime fp32', 'onnxruntime', 'onnxruntime'),
                ('OpenVINO f32', 'openvino', 'openvino'),
                ('onnxruntime INT8', 'onnxruntime int8', 'onnxruntime int8'),
                ('ExecuTorch fp32', 'executorch', 'executorch'),
                ('ExecuTorch INT8', 'executorch int8', 'executorch int8'),
                ('ncnn fp32', 'ncnn', 'ncnn'))


def latency_matrix(cls: Dict, det: Dict, arch: str = 'shufflenet-v2-1x',
                   size: int = 320) -> str:
    """docs/deployment.md's latency per family and runtime, 1 thread,
    batch 1, as Markdown: the classifier (``benchmark.py cls``, median
    wall time at 224) and every detector of the end-to-end ``det`` run
    (median CPU time at ``size``, image tensor to final boxes); ``-``
    where a path has no file (two-stage detectors on ExecuTorch, ncnn)."""
    lines = ['| model (1 thread, batch 1) | ' + ' | '.join(
        label for label, _, _ in MATRIX_PATHS) + ' |',
        '|---|' + '---:|' * len(MATRIX_PATHS)]
    cells = []
    for _, path, _ in MATRIX_PATHS:
        match = [r for r in cls['results'] if r['arch'] == arch and
                 r['path'] == path and r['threads'] == 1]
        cells.append(f'{match[0]["median_ms"]:.2f}' if match else '-')
    lines.append(f'| `{arch}` classifier, 224x224 | ' + ' | '.join(cells) +
                 ' |')
    rows = [r for r in det['results'] if r['threads'] == 1 and
            r['size'] == size and not r['reference']]
    for model in dict.fromkeys(r['model'] for r in rows):
        cells = []
        for _, _, path in MATRIX_PATHS:
            match = [r for r in rows if r['model'] == model and
                     r['path'] == path]
            cells.append(f'{match[0]["cpu_median_ms"]:.1f}' if match
                         else '-')
        lines.append(f'| `{model}`, {size}x{size} end to end | ' +
                     ' | '.join(cells) + ' |')
    return '\n'.join(lines)
