"""The main demo: learn the built-in toy shapes with ShuffleNet V2.

    python tools/misc/demo.py [--min-top1 85] [--min-map50 0.5] [--skip-det]
        [--record work_dirs/demo_record.json]

1. Classification: generates the toy shapes if missing (data/toy_shapes),
   trains the ShuffleNet V2 classifier with tools/train.py, evaluates the
   last checkpoint with tools/test.py and prints its top-1 accuracy; then
   exports it to ONNX (tools/deployment/pytorch2onnx.py) and evaluates the
   ONNX file in onnxruntime on the same split
   (tools/deployment/test_onnx.py); quantizes it to INT8
   (tools/deployment/quantize.py, calibrated on 64 val images through
   the test pipeline) and
   evaluates that too, with 7-bit weights (the default) and 8-bit ones;
   exports it for phones (tools/deployment/export.py): an ExecuTorch
   program (XNNPACK) in fp32 and in INT8 (PT2E, calibrated on 64 val
   images through the test pipeline) and an ncnn model (pnnx, fp32), and
   evaluates each (tools/deployment/test_onnx.py).
2. Detection: generates the toy detection set if missing (data/toy_det),
   trains RTMDet-lite on ShuffleNet V2 (depthwise PAFPN, shared depthwise
   head, dynamic soft-label assignment, EMA; the toy table's choice,
   docs/detection.md) for 6 epochs, starting from the
   classifier's checkpoint (init_cfg Pretrained, prefix 'backbone.'),
   evaluates it with
   tools/test.py --show-dir and prints the COCO bbox mAP and mAP50; the
   pictures of predicted boxes go to the work dir. Then exports it end to
   end (one ONNX graph, NMS inside; the export checks its boxes against
   PyTorch's on two test images), evaluates the file in onnxruntime,
   quantizes it to INT8 (7- and 8-bit weights) and evaluates that,
   exports it to ExecuTorch (fp32, checked box for box, and INT8) and ncnn
   (fp32, checked box for box; decoding and NMS on the host) and evaluates
   each, runs
   tools/infer.py with the ONNX file on four validation images (pictures
   and predictions.json in WORK_DIR/infer) and
   tools/deployment/standalone_infer.py (onnxruntime, numpy and Pillow
   only) on the same images, whose predictions must be infer.py's.
3. Draws each run's curves (loss, top-1, bbox mAP) with
   tools/analysis_tools/analyze_logs.py to WORK_DIR/curves.png and prints
   where the curves and pictures are.

Every figure it prints goes into the JSON ``--record`` (with the machine,
the load average, the versions and each stage's time), written also when
a bar is missed; ``docs/benchmarks/demo.json`` is such a record, and the
demo figures of README.md and docs/ are rendered from it
(``mmshuffle.analysis.report``) and checked against it by the tests.

Fails (exit 1) if top-1 < --min-top1, mAP50 < --min-map50, an fp32
export's (ONNX, ExecuTorch, ncnn) top-1 differs from PyTorch's by more
than one image, an INT8 top-1 (onnxruntime, ExecuTorch) is more than 1
point below PyTorch's, an fp32 export's bbox mAP is more than 0.005 from
PyTorch's, or an INT8 detector's mAP50 more than 0.02 below PyTorch's.
"""
import argparse
import datetime
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

from mmengine.config import Config

from mmshuffle.engine.cli import parse_metrics
from mmshuffle.engine.configs import shorten_schedule
from mmshuffle.engine.fileio import atomic_write

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLS_CONFIG = osp.join('configs', 'toy',
                      'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
DET_CONFIG = osp.join('configs', 'toy',
                      'rtmdet-lite_shufflenet-v2-1x_320_toy-det.py')
# the detector trains 6 epochs (the cosine decay over them), not the
# config's 12, to keep the demo's time; the accuracy-latency table's budget
# of 4 epochs (docs/detection.md) gave mAP50 0.536 in a demo run, too close
# to the bar of 0.5 for a check that must pass on every CPU
DET_EPOCHS = 6


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cls-work-dir', default='work_dirs/demo_toy_shapes')
    parser.add_argument('--det-work-dir', default='work_dirs/demo_toy_det')
    parser.add_argument('--min-top1', type=float, default=85.0)
    parser.add_argument('--min-map50', type=float, default=0.5)
    parser.add_argument(
        '--skip-det', action='store_true', help='classification only')
    parser.add_argument('--record', default='work_dirs/demo_record.json',
                        help='the JSON record of the run')
    return parser.parse_args(argv)


#: every stage run, with its time (the record's ``stages``)
STAGES = []


def step(title, cmd, capture=False):
    """Run one stage; its output streams live (and is returned when
    ``capture``)."""
    print(f'\n==> {title}\n    {" ".join(cmd)}', flush=True)
    start = time.time()
    proc = subprocess.run(
        cmd, cwd=ROOT, stdout=subprocess.PIPE if capture else None,
        text=True)
    if capture:
        sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.exit(f'demo: {title} failed (exit {proc.returncode})')
    seconds = time.time() - start
    STAGES.append(dict(title=title, seconds=round(seconds, 1)))
    return proc.stdout, seconds


def last_checkpoint(work_dir):
    with open(osp.join(ROOT, work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def classification(args, py):
    step('toy classification data', [py, 'tools/misc/make_toy_data.py', 'cls'])
    _, seconds = step('train the classifier', [
        py, 'tools/train.py', CLS_CONFIG, '--work-dir', args.cls_work_dir
    ])
    ckpt = last_checkpoint(args.cls_work_dir)  # epoch_30.pth (30 epochs)
    out, _ = step('test the classifier', [
        py, 'tools/test.py', CLS_CONFIG, ckpt, '--work-dir',
        osp.join(args.cls_work_dir, 'test')
    ], capture=True)
    top1 = parse_metrics(out)['accuracy/top1']
    onnx_path = osp.join(args.cls_work_dir, 'shufflenet-v2-1x_toy-shapes.onnx')
    step('export the classifier to ONNX', [
        py, 'tools/deployment/pytorch2onnx.py', CLS_CONFIG, ckpt, '--out',
        onnx_path, '--shape', '96', '--dynamic-batch'
    ])
    out, _ = step('evaluate the ONNX classifier in onnxruntime', [
        py, 'tools/deployment/test_onnx.py', CLS_CONFIG, onnx_path
    ], capture=True)
    onnx_top1 = parse_metrics(out)['accuracy/top1']
    int8_path = osp.join(args.cls_work_dir,
                         'shufflenet-v2-1x_toy-shapes_int8.onnx')
    step('quantize the classifier to INT8', [
        py, 'tools/deployment/quantize.py', CLS_CONFIG, onnx_path, '--out',
        int8_path, '--calib', '64'
    ])
    out, _ = step('evaluate the INT8 classifier in onnxruntime', [
        py, 'tools/deployment/test_onnx.py', CLS_CONFIG, int8_path
    ], capture=True)
    int8_top1 = parse_metrics(out)['accuracy/top1']
    int8_8bit_top1 = parse_metrics(int8_8bit(
        py, CLS_CONFIG, onnx_path, 'classifier'))['accuracy/top1']
    phone = {name: metrics['accuracy/top1'] for name, (metrics, _) in
             phone_exports(py, CLS_CONFIG, ckpt, args.cls_work_dir,
                           'shufflenet-v2-1x_toy-shapes', 'classifier',
                           ['--shape', '96']).items()}
    return dict(config=osp.basename(CLS_CONFIG), checkpoint=ckpt,
                train_seconds=round(seconds, 1), top1=top1,
                onnx_top1=onnx_top1, int8_top1=int8_top1,
                int8_8bit_top1=int8_8bit_top1, phone=phone,
                onnx_path=osp.join(ROOT, onnx_path))


#: the phone exports of the demo: (record key, words, export.py options,
#: file suffix)
PHONE = (('executorch', 'ExecuTorch (XNNPACK) fp32', ['--format',
                                                     'executorch'], '.pte'),
         ('executorch_int8', 'ExecuTorch (XNNPACK) INT8',
          ['--format', 'executorch', '--int8', '--calib-images', '64'],
          '_int8.pte'),
         ('ncnn', 'ncnn (pnnx) fp32', ['--format', 'ncnn'], '.param'))


def phone_exports(py, config, ckpt, work_dir, stem, what, options=()):
    """Export ``ckpt`` to each of :data:`PHONE` with
    tools/deployment/export.py and evaluate the file with test_onnx.py:
    ``{key: (test metrics, export metrics)}`` (the export's box-for-box
    check, for an fp32 detector)."""
    results = {}
    for key, words, flags, suffix in PHONE:
        path = osp.join(work_dir, stem + suffix)
        out, _ = step(f'export the {what} to {words}', [
            py, 'tools/deployment/export.py', config, ckpt, *flags,
            *options, '--out', path
        ], capture=True)
        check = parse_metrics(out) if 'metrics {' in out else {}
        out, _ = step(f'evaluate the {what} in {words}', [
            py, 'tools/deployment/test_onnx.py', config, path
        ], capture=True)
        results[key] = (parse_metrics(out), check)
    return results


def int8_8bit(py, config, onnx_path, what):
    """Quantize with 8-bit weights as well and evaluate: the test_onnx.py
    output (the docs' 7- against 8-bit table)."""
    path = onnx_path.replace('.onnx', '_int8_8bit.onnx')
    step(f'quantize the {what} with 8-bit weights', [
        py, 'tools/deployment/quantize.py', config, onnx_path, '--out', path,
        '--calib', '64', '--weight-bits', '8'
    ])
    out, _ = step(f'evaluate the 8-bit-weight INT8 {what}', [
        py, 'tools/deployment/test_onnx.py', config, path
    ], capture=True)
    return out


def detection(args, py, cls_ckpt):
    step('toy detection data', [py, 'tools/misc/make_toy_data.py', 'det'])
    schedule = shorten_schedule(Config.fromfile(osp.join(ROOT, DET_CONFIG)),
                                DET_EPOCHS)
    _, seconds = step('train the detector', [
        py, 'tools/train.py', DET_CONFIG, '--work-dir', args.det_work_dir,
        '--cfg-options', f'model.backbone.init_cfg.checkpoint={cls_ckpt}',
        *(f'{key}={value}' for key, value in schedule.items())
    ])
    ckpt = last_checkpoint(args.det_work_dir)  # epoch_6.pth
    show_dir = osp.join(args.det_work_dir, 'predictions')
    out, _ = step('test the detector', [
        py, 'tools/test.py', DET_CONFIG, ckpt, '--work-dir',
        osp.join(args.det_work_dir, 'test'), '--show-dir', show_dir
    ], capture=True)
    metrics = parse_metrics(out)
    onnx_path = osp.join(args.det_work_dir, 'rtmdet-lite_toy-det.onnx')
    out, _ = step('export the detector end to end (NMS inside) to ONNX', [
        py, 'tools/deployment/pytorch2onnx.py', DET_CONFIG, ckpt, '--out',
        onnx_path
    ], capture=True)
    check = parse_metrics(out)
    out, _ = step('evaluate the ONNX detector in onnxruntime', [
        py, 'tools/deployment/test_onnx.py', DET_CONFIG, onnx_path
    ], capture=True)
    onnx_metrics = parse_metrics(out)
    int8_path = osp.join(args.det_work_dir,
                         'rtmdet-lite_toy-det_int8.onnx')
    step('quantize the detector to INT8', [
        py, 'tools/deployment/quantize.py', DET_CONFIG, onnx_path, '--out',
        int8_path, '--calib', '64'
    ])
    out, _ = step('evaluate the INT8 detector in onnxruntime', [
        py, 'tools/deployment/test_onnx.py', DET_CONFIG, int8_path
    ], capture=True)
    int8_metrics = parse_metrics(out)
    int8_8bit_metrics = parse_metrics(int8_8bit(py, DET_CONFIG, onnx_path,
                                                'detector'))
    phone = phone_exports(py, DET_CONFIG, ckpt, args.det_work_dir,
                          'rtmdet-lite_toy-det', 'detector')
    infer_dir = osp.join(args.det_work_dir, 'infer')
    val = sorted(glob.glob(osp.join(ROOT, 'data', 'toy_det', 'val',
                                    '*.png')))[:4]
    step('tools/infer.py: the ONNX detector on four images', [
        py, 'tools/infer.py', DET_CONFIG, onnx_path, *val, '--out-dir',
        infer_dir
    ])
    standalone_dir = osp.join(args.det_work_dir, 'standalone')
    step('tools/deployment/standalone_infer.py: the same images, no '
         'PyTorch', [
             py, 'tools/deployment/standalone_infer.py', onnx_path, *val,
             '--out-dir', standalone_dir
         ])
    keys = ('coco/bbox_mAP', 'coco/bbox_mAP_50')
    return dict(config=osp.basename(DET_CONFIG), epochs=DET_EPOCHS,
                train_seconds=round(seconds, 1),
                pytorch=[metrics[k] for k in keys],
                onnx=[onnx_metrics[k] for k in keys],
                int8=[int8_metrics[k] for k in keys],
                int8_8bit=[int8_8bit_metrics[k] for k in keys],
                export_check=dict(
                    images=int(check['check/images']),
                    pytorch=int(check['check/pytorch']),
                    onnxruntime=int(check['check/onnxruntime']),
                    matched=int(check['check/matched'])),
                phone={key: [metrics[k] for k in keys]
                       for key, (metrics, _) in phone.items()},
                phone_checks={key: dict(
                    pytorch=int(check['check/pytorch']),
                    matched=int(check['check/matched']))
                    for key, (_, check) in phone.items() if check},
                standalone=same_predictions(infer_dir, standalone_dir),
                pictures=osp.join(ROOT, show_dir),
                onnx_path=osp.join(ROOT, onnx_path),
                infer_dir=osp.join(ROOT, infer_dir))


def same_predictions(infer_dir, standalone_dir):
    """How many images standalone_infer.py and infer.py predicted, and on
    how many their detections are the same, number for number."""
    runs = []
    for folder in (infer_dir, standalone_dir):
        with open(osp.join(ROOT, folder, 'predictions.json')) as f:
            runs.append(json.load(f)['predictions'])
    same = sum(a.get('detections') == b.get('detections')
               for a, b in zip(*runs))
    return dict(images=len(runs[0]), same=same,
                boxes=sum(len(r.get('detections', ())) for r in runs[0]))


def draw_curves(py, work_dir, title):
    step(f'curves of the {title}', [
        py, 'tools/analysis_tools/analyze_logs.py', work_dir, '--title', title
    ])
    return osp.join(ROOT, work_dir, 'curves.png')


def machine_facts():
    from mmshuffle.analysis.bench.timing import cpu_name, machine
    facts = machine()
    facts.update(cpu=cpu_name(), cores=os.cpu_count(),
                 load_average=[round(v, 2) for v in os.getloadavg()])
    return facts


def git_commit():
    """The checkout's commit, ``+changes`` where files differ from it
    (``None`` outside a git checkout)."""
    try:
        def git(*args):
            return subprocess.run(['git', *args], cwd=ROOT,
                                  capture_output=True, text=True,
                                  check=True).stdout.strip()
        commit = git('rev-parse', '--short', 'HEAD')
        dirty = git('status', '--porcelain', '--untracked-files=no')
        return commit + ('+changes' if dirty else '') if commit else None
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv=None):
    args = parse_args(argv)
    py = sys.executable
    start = time.time()
    record = dict(date=datetime.date.today().isoformat(),
                  commit=git_commit(), machine=machine_facts(),
                  bars=dict(min_top1=args.min_top1,
                            min_map50=args.min_map50))
    failures = []
    cls = classification(args, py)
    top1, onnx_top1, int8_top1 = cls['top1'], cls['onnx_top1'], \
        cls['int8_top1']
    lines = [f'classification: {cls["config"]} trained in '
             f'{cls["train_seconds"]:.0f} s; top-1 on the toy val split = '
             f'{top1:.2f}% (bar {args.min_top1:.0f}%)',
             f'ONNX export {cls["onnx_path"]} in onnxruntime: top-1 = '
             f'{onnx_top1:.2f}% (PyTorch {top1:.2f}%); INT8: top-1 = '
             f'{int8_top1:.2f}% (8-bit weights: '
             f'{cls["int8_8bit_top1"]:.2f}%)']
    if top1 < args.min_top1:
        failures.append(f'top-1 {top1:.2f}% < {args.min_top1}%')
    if abs(onnx_top1 - top1) > 100 / 600 + 1e-6:  # one image of 600
        failures.append(f'ONNX top-1 {onnx_top1:.2f}% differs from '
                        f'PyTorch {top1:.2f}%')
    if int8_top1 < top1 - 1.0:
        failures.append(f'INT8 top-1 {int8_top1:.2f}% is more than 1 point '
                        f'below PyTorch {top1:.2f}%')
    phone = cls['phone']
    lines.append('phones: ' + ', '.join(
        f'{words}: top-1 = {phone[key]:.2f}%' for key, words, _, _ in PHONE))
    for key, words, _, _ in PHONE:
        if key.endswith('int8') and phone[key] < top1 - 1.0:
            failures.append(f'{words} top-1 {phone[key]:.2f}% is more than '
                            f'1 point below PyTorch {top1:.2f}%')
        elif not key.endswith('int8') and \
                abs(phone[key] - top1) > 100 / 600 + 1e-6:
            failures.append(f'{words} top-1 {phone[key]:.2f}% differs from '
                            f'PyTorch {top1:.2f}%')
    lines.append('classification curves: ' +
                 draw_curves(py, args.cls_work_dir, 'classifier'))
    record['classification'] = {k: v for k, v in cls.items()
                                if k not in ('checkpoint', 'onnx_path')}
    if not args.skip_det:
        det = detection(args, py, cls['checkpoint'])
        (m, m50), (om, om50), (im, im50) = (det['pytorch'], det['onnx'],
                                            det['int8'])
        check, same = det['export_check'], det['standalone']
        lines.append(f'detection: {det["config"]} trained in '
                     f'{det["train_seconds"]:.0f} s; COCO bbox mAP = '
                     f'{m:.3f}, mAP50 = {m50:.3f} (bar {args.min_map50})')
        lines.append(f'end-to-end ONNX export {det["onnx_path"]} in '
                     f'onnxruntime: bbox mAP = {om:.3f}, mAP50 = {om50:.3f} '
                     f'(PyTorch {m:.3f}, {m50:.3f}); INT8: bbox mAP = '
                     f'{im:.3f}, mAP50 = {im50:.3f}; the export\'s check: '
                     f'{check["matched"]} of {check["pytorch"]} boxes '
                     'matched')
        phone = det['phone']
        lines.append('phones: ' + ', '.join(
            f'{words}: bbox mAP = {phone[key][0]:.3f}, mAP50 = '
            f'{phone[key][1]:.3f}' for key, words, _, _ in PHONE))
        for key, words, _, _ in PHONE:
            if key.endswith('int8') and phone[key][1] < m50 - 0.02:
                failures.append(f'{words} mAP50 {phone[key][1]:.3f} is more '
                                f'than 0.02 below PyTorch {m50:.3f}')
            elif not key.endswith('int8') and abs(phone[key][0] - m) > 0.005:
                failures.append(f'{words} bbox mAP {phone[key][0]:.3f} is '
                                f'more than 0.005 from PyTorch {m:.3f}')
        lines.append(f'standalone_infer.py (no PyTorch): {same["same"]} of '
                     f'{same["images"]} images with infer.py\'s predictions')
        lines.append('detection curves: ' +
                     draw_curves(py, args.det_work_dir, 'detector'))
        lines.append(f'pictures of predicted boxes: {det["pictures"]}; '
                     f'tools/infer.py with the ONNX file: '
                     f'{det["infer_dir"]}')
        if m50 < args.min_map50:
            failures.append(f'mAP50 {m50:.3f} < {args.min_map50}')
        if abs(om - m) > 0.005:
            failures.append(f'ONNX bbox mAP {om:.3f} is more than 0.005 '
                            f'from PyTorch {m:.3f}')
        if im50 < m50 - 0.02:
            failures.append(f'INT8 mAP50 {im50:.3f} is more than 0.02 below '
                            f'PyTorch {m50:.3f}')
        if same['same'] != same['images']:
            failures.append(f'standalone_infer.py differs from infer.py on '
                            f'{same["images"] - same["same"]} image(s)')
        record['detection'] = {
            k: v for k, v in det.items()
            if k not in ('pictures', 'onnx_path', 'infer_dir')}
    record.update(stages=STAGES, seconds=round(time.time() - start, 1),
                  load_average_after=[round(v, 2) for v in os.getloadavg()],
                  failures=failures, passed=not failures)
    os.makedirs(osp.dirname(osp.join(ROOT, args.record)) or '.',
                exist_ok=True)
    atomic_write(json.dumps(record, indent=1).encode(),
                 osp.join(ROOT, args.record))
    lines.append(f'record of this run: {osp.join(ROOT, args.record)} '
                 f'({record["seconds"] / 60:.1f} min)')
    print('\n' + '\n'.join(f'demo: {ln}' for ln in lines))
    if failures:
        sys.exit('demo: below the bar: ' + '; '.join(failures))


if __name__ == '__main__':
    main()
