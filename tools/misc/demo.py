"""The main demo: learn the built-in toy shapes with ShuffleNet V2.

    python tools/misc/demo.py [--min-top1 90] [--min-map50 0.5] [--skip-det]

1. Classification: generates the toy shapes if missing (data/toy_shapes),
   trains the ShuffleNet V2 classifier with tools/train.py, evaluates the
   last checkpoint with tools/test.py and prints its top-1 accuracy; then
   exports it to ONNX (tools/deployment/pytorch2onnx.py) and evaluates the
   ONNX file in onnxruntime on the same split
   (tools/deployment/test_onnx.py).
2. Detection: generates the toy detection set if missing (data/toy_det),
   trains RetinaNet + ShuffleNet V2 + FPN starting from the classifier's
   checkpoint (init_cfg Pretrained, prefix 'backbone.'), evaluates it with
   tools/test.py --show-dir and prints the COCO bbox mAP and mAP50; the
   pictures of predicted boxes go to the work dir.
3. Draws each run's curves (loss, top-1, bbox mAP) with
   tools/analysis_tools/analyze_logs.py to WORK_DIR/curves.png and prints
   where the curves and pictures are.

Fails (exit 1) if top-1 < --min-top1, mAP50 < --min-map50, or the ONNX
top-1 differs from PyTorch's by more than one image.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLS_CONFIG = osp.join('configs', 'toy',
                      'shufflenet-v2-1x_1xb64-30e_toy-shapes.py')
DET_CONFIG = osp.join('configs', 'toy',
                      'retinanet_shufflenet-v2-1x_fpn_toy-det.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cls-work-dir', default='work_dirs/demo_toy_shapes')
    parser.add_argument('--det-work-dir', default='work_dirs/demo_toy_det')
    parser.add_argument('--min-top1', type=float, default=90.0)
    parser.add_argument('--min-map50', type=float, default=0.5)
    parser.add_argument(
        '--skip-det', action='store_true', help='classification only')
    return parser.parse_args(argv)


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
    return proc.stdout, time.time() - start


def metrics_of(out):
    line = [ln for ln in out.splitlines() if ln.startswith('metrics ')][-1]
    return json.loads(line[len('metrics '):])


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
    top1 = metrics_of(out)['accuracy/top1']
    onnx_path = osp.join(args.cls_work_dir, 'shufflenet-v2-1x_toy-shapes.onnx')
    step('export the classifier to ONNX', [
        py, 'tools/deployment/pytorch2onnx.py', CLS_CONFIG, ckpt, '--out',
        onnx_path, '--shape', '96', '--dynamic-batch'
    ])
    out, _ = step('evaluate the ONNX classifier in onnxruntime', [
        py, 'tools/deployment/test_onnx.py', CLS_CONFIG, onnx_path
    ], capture=True)
    onnx_top1 = metrics_of(out)['accuracy/top1']
    return ckpt, top1, seconds, onnx_top1, osp.join(ROOT, onnx_path)


def detection(args, py, cls_ckpt):
    step('toy detection data', [py, 'tools/misc/make_toy_data.py', 'det'])
    _, seconds = step('train the detector', [
        py, 'tools/train.py', DET_CONFIG, '--work-dir', args.det_work_dir,
        '--cfg-options', f'model.backbone.init_cfg.checkpoint={cls_ckpt}'
    ])
    ckpt = last_checkpoint(args.det_work_dir)
    show_dir = osp.join(args.det_work_dir, 'predictions')
    out, _ = step('test the detector', [
        py, 'tools/test.py', DET_CONFIG, ckpt, '--work-dir',
        osp.join(args.det_work_dir, 'test'), '--show-dir', show_dir
    ], capture=True)
    metrics = metrics_of(out)
    return (metrics['coco/bbox_mAP'], metrics['coco/bbox_mAP_50'], seconds,
            osp.join(ROOT, show_dir))


def draw_curves(py, work_dir, title):
    step(f'curves of the {title}', [
        py, 'tools/analysis_tools/analyze_logs.py', work_dir, '--title', title
    ])
    return osp.join(ROOT, work_dir, 'curves.png')


def main(argv=None):
    args = parse_args(argv)
    py = sys.executable
    failures = []
    cls_ckpt, top1, cls_s, onnx_top1, onnx_path = classification(args, py)
    lines = [f'classification: {osp.basename(CLS_CONFIG)} trained in '
             f'{cls_s:.0f} s; top-1 on the toy val split = {top1:.2f}% '
             f'(bar {args.min_top1:.0f}%)',
             f'ONNX export {onnx_path} in onnxruntime: top-1 = '
             f'{onnx_top1:.2f}% (PyTorch {top1:.2f}%)']
    if top1 < args.min_top1:
        failures.append(f'top-1 {top1:.2f}% < {args.min_top1}%')
    if abs(onnx_top1 - top1) > 100 / 600 + 1e-6:  # one image of 600
        failures.append(f'ONNX top-1 {onnx_top1:.2f}% differs from '
                        f'PyTorch {top1:.2f}%')
    lines.append('classification curves: ' +
                 draw_curves(py, args.cls_work_dir, 'classifier'))
    if not args.skip_det:
        m, m50, det_s, pictures = detection(args, py, cls_ckpt)
        lines.append(f'detection: {osp.basename(DET_CONFIG)} trained in '
                     f'{det_s:.0f} s; COCO bbox mAP = {m:.3f}, mAP50 = '
                     f'{m50:.3f} (bar {args.min_map50})')
        lines.append('detection curves: ' +
                     draw_curves(py, args.det_work_dir, 'detector'))
        lines.append(f'pictures of predicted boxes: {pictures}')
        if m50 < args.min_map50:
            failures.append(f'mAP50 {m50:.3f} < {args.min_map50}')
    print('\n' + '\n'.join(f'demo: {ln}' for ln in lines))
    if failures:
        sys.exit('demo: below the bar: ' + '; '.join(failures))


if __name__ == '__main__':
    main()
