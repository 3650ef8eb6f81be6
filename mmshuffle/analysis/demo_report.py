"""The ``make demo`` figures of README.md, docs/get_started.md and
docs/deployment.md, rendered from a run's record (the JSON that
``tools/misc/demo.py --record`` writes; ``docs/benchmarks/demo.json`` is
the one the docs show). The tests check that the pages hold exactly what
these functions render, so no demo figure is typed by hand.
"""
from typing import Dict

#: where the recorded run the docs show lives (relative to the repository)
RECORD = 'docs/benchmarks/demo.json'


def duration(seconds: float) -> str:
    """``1234.5`` -> ``'20 min 35 s'``."""
    minutes, seconds = divmod(round(seconds), 60)
    return f'{minutes} min {seconds} s'


def machine_words(record: Dict) -> str:
    """``'a 2-core Intel(R) Xeon(R) ...'``."""
    machine = record['machine']
    return f'a {machine["cores"]}-core {machine["cpu"]}'


def headline(record: Dict) -> str:
    """README's sentence on the recorded run."""
    cls, det = record['classification'], record['detection']
    return (f'{duration(record["seconds"])} on {machine_words(record)}, '
            f'top-1 {cls["top1"]:.2f}%, bbox mAP {det["pytorch"][0]:.3f}')


def _pair(values) -> str:
    return f'{values[0]:.3f} / {values[1]:.3f}'


def demo_table(record: Dict) -> str:
    """Every figure of the run, as docs/get_started.md shows it."""
    cls, det = record['classification'], record['detection']
    check, same = det['export_check'], det['standalone']
    load = record['machine']['load_average'][0], \
        record['load_average_after'][0]
    rows = [
        ('classifier training (`' + cls['config'][:-3] + '`)',
         f'{cls["train_seconds"]:.0f} s'),
        ('top-1 on the 600 val images: PyTorch / ONNX (onnxruntime) / INT8',
         f'{cls["top1"]:.2f}% / {cls["onnx_top1"]:.2f}% / '
         f'{cls["int8_top1"]:.2f}%'),
        (f'detector training (`{det["config"][:-3]}`, {det["epochs"]} '
         'epochs)', f'{det["train_seconds"]:.0f} s'),
        ('bbox mAP / mAP50 on the 200 val images: PyTorch',
         _pair(det['pytorch'])),
        ('the same, end-to-end ONNX file in onnxruntime', _pair(det['onnx'])),
        ('the same, INT8 in onnxruntime', _pair(det['int8'])),
        ('top-1 as phone exports: ExecuTorch fp32 / ExecuTorch INT8 / ncnn '
         'fp32', ' / '.join(f'{cls["phone"][k]:.2f}%' for k in PHONE)),
        *((f'bbox mAP / mAP50 as {words}', _pair(det['phone'][key]))
          for key, words in PHONE.items()),
        (f'the export\'s check on {check["images"]} test images: PyTorch\'s '
         'boxes matched by onnxruntime\'s',
         f'{check["matched"]} of {check["pytorch"]}'),
        (f'`standalone_infer.py` (no PyTorch) against `infer.py`, '
         f'{same["images"]} images, {same["boxes"]} boxes',
         f'{same["same"]} of {same["images"]} images identical'),
        ('the whole demo (toy data already generated)',
         f'{duration(record["seconds"])}'),
    ]
    lines = ['| step | result |', '|---|---:|']
    lines += [f'| {name} | {value} |' for name, value in rows]
    lines.append('')
    lines.append(
        f'Recorded on {record["date"]} on {machine_words(record)} '
        f'(load average {min(load):.1f} to {max(load):.1f}), torch '
        f'{record["machine"]["torch"]}, onnxruntime '
        f'{record["machine"]["onnxruntime"]}: `{RECORD}`.')
    return '\n'.join(lines)


#: the phone exports of the record, in its order
PHONE = {'executorch': 'ExecuTorch fp32', 'executorch_int8':
         'ExecuTorch INT8', 'ncnn': 'ncnn fp32'}


def phone_table(record: Dict) -> str:
    """docs/deployment.md's table of the phone exports' accuracy."""
    cls, det = record['classification'], record['detection']
    checks = det.get('phone_checks', {})
    head = ' | '.join(PHONE.values())
    return '\n'.join([
        f'| model (toy set) | metric | PyTorch | {head} |',
        '|---|---|---:|' + '---:|' * len(PHONE),
        '| ShuffleNetV2 1x classifier, 600 val images | top-1 | '
        f'{cls["top1"]:.2f}% | ' + ' | '.join(
            f'{cls["phone"][k]:.2f}%' for k in PHONE) + ' |',
        '| RTMDet-lite ShuffleNetV2 1x, 200 val images | bbox mAP | '
        f'{det["pytorch"][0]:.3f} | ' + ' | '.join(
            f'{det["phone"][k][0]:.3f}' for k in PHONE) + ' |',
        f'| | bbox mAP50 | {det["pytorch"][1]:.3f} | ' + ' | '.join(
            f'{det["phone"][k][1]:.3f}' for k in PHONE) + ' |',
        '| | export check: boxes matched box for box | | ' + ' | '.join(
            f'{checks[k]["matched"]} of {checks[k]["pytorch"]}'
            if k in checks else 'not compared (INT8)' for k in PHONE) +
        ' |',
    ])


def int8_table(record: Dict) -> str:
    """docs/deployment.md's accuracy table: PyTorch, ONNX and INT8."""
    cls, det = record['classification'], record['detection']
    return '\n'.join([
        '| model (toy set) | metric | PyTorch | ONNX fp32 (onnxruntime) | '
        'INT8 (onnxruntime) |',
        '|---|---|---:|---:|---:|',
        f'| ShuffleNetV2 1x classifier, 600 val images | top-1 | '
        f'{cls["top1"]:.2f}% | {cls["onnx_top1"]:.2f}% | '
        f'{cls["int8_top1"]:.2f}% |',
        f'| RTMDet-lite ShuffleNetV2 1x, 200 val images | bbox mAP | '
        f'{det["pytorch"][0]:.3f} | {det["onnx"][0]:.3f} | '
        f'{det["int8"][0]:.3f} |',
        f'| | bbox mAP50 | {det["pytorch"][1]:.3f} | {det["onnx"][1]:.3f} | '
        f'{det["int8"][1]:.3f} |',
    ])


def weight_bits_table(record: Dict) -> str:
    """docs/deployment.md's 7- against 8-bit weights table."""
    cls, det = record['classification'], record['detection']
    return '\n'.join([
        '| model (toy set) | metric | 7-bit weights (default) | 8-bit '
        'weights |',
        '|---|---|---:|---:|',
        f'| ShuffleNetV2 1x classifier | top-1 | {cls["int8_top1"]:.2f}% | '
        f'{cls["int8_8bit_top1"]:.2f}% |',
        f'| RTMDet-lite ShuffleNetV2 1x | bbox mAP / mAP50 | '
        f'{_pair(det["int8"])} | {_pair(det["int8_8bit"])} |',
    ])


def metrics_line(record: Dict, task: str, source: str = 'onnx') -> str:
    """The metrics line ``test_onnx.py`` printed for the demo's ONNX file
    (``source='onnx'``) or ``tools/test.py`` for its checkpoint
    (``'pytorch'``): top-1, or bbox mAP and mAP50 followed by ``...``."""
    from mmshuffle.engine.cli import format_metrics
    if task == 'classification':
        cls = record['classification']
        return format_metrics({'accuracy/top1': cls[
            'onnx_top1' if source == 'onnx' else 'top1']})
    values = record['detection']['onnx' if source == 'onnx' else 'pytorch']
    line = format_metrics({'coco/bbox_mAP': values[0],
                           'coco/bbox_mAP_50': values[1]})
    return line[:-1] + ', ...}'


def export_check(record: Dict) -> str:
    """The sentence on the export's own check in the recorded run."""
    check = record['detection']['export_check']
    return (f'{check["pytorch"]} PyTorch detections, {check["onnxruntime"]} '
            f'from onnxruntime, {check["matched"]} matched')
