"""Export a classifier, a detector (end to end) or a backbone alone to
ONNX and check it in onnxruntime.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out FILE.onnx
        [--shape H [W]] [--dynamic-batch] [--backbone-only] [--raw-input]
        [--image-hw] [--opset 18] [--tolerance 1e-4] [--check-images N|DIR]
        [--cfg-options KEY=VALUE ...]

The model of CONFIG is built, CHECKPOINT is loaded strictly, the model is
switched to its deploy form (BatchNorm folded) and exported. Then the ONNX
file runs in onnxruntime on the same random input as the checkpoint's model
in PyTorch, as trained (eval mode, BatchNorm not folded): batch 1, and batch
8 with ``--dynamic-batch``. The maximum absolute difference is printed and
the tool fails (exit 1) above ``--tolerance``.

A classifier exports as ``input`` (normalised N x 3 x H x W, see the
config's ``data_preprocessor``) -> ``logits``. ``--backbone-only`` exports
the backbone (of a classification or a detection config) as ``input`` ->
``feat0, feat1, ...``, the multi-scale maps of its ``out_indices``.

A detection config (mmdet) exports the whole detector as one graph
(:mod:`mmshuffle.deploy.detection`): ``input`` (N x 3 x H x W, H and W any
multiples of the detector's size divisor, N variable with
``--dynamic-batch``) -> ``dets`` (N x K x 5: x1, y1, x2, y2, score) and
``labels`` (N x K), with box decoding, the score threshold, per-class NMS
and the top K of the config's ``test_cfg`` inside the graph (padding rows:
score 0, label -1). ``--raw-input`` folds the data preprocessor's channel
conversion and normalisation in, so the graph takes 0-255 pixels in the
pipeline's channel order. ``--image-hw`` adds a second input ``image_hw``
(N x 2): the height and width of each image of a padded batch before the
padding; boxes are clipped to it before NMS, as mmdet clips each image's
(without it, to the input tensor: the same for images that fill it). The
check runs images through the config's test pipeline, mmdet's predict path
and onnxruntime: ``--check-images N`` the first N of the config's test set
(2 by default), ``--check-images DIR`` the images of a folder of yours.
It fails (exit 1) unless every box matches one of the same class within
``--box-tolerance`` pixels and ``--score-tolerance`` (boxes at the score
threshold, or at the other side's full top-K cut, aside), and when no box
was matched (nothing was compared: check on images with objects). A test
set that cannot be read, or holds no image, is an error before anything is
exported (pass a folder, or ``--check-images 0`` to export without the
check).
"""
import argparse
import copy
import json
import os.path as osp
import sys

from mmengine.config import DictAction
from mmengine.runner import load_checkpoint

import mmshuffle  # noqa: F401  (registers backbones, safe loading)
from mmshuffle.deploy.detection import (DetectorForExport,
                                        UnsupportedDetectorError,
                                        check_detection_shape,
                                        compare_detections, export_detector,
                                        predict_reference, split_detections)
from mmshuffle.deploy.metadata import config_metadata, preprocessor_metadata
from mmshuffle.deploy.onnx import (BackboneForExport, ClassifierForExport,
                                   check_shape, compare_with_onnxruntime,
                                   export_onnx)
from mmshuffle.deploy.runtime import DetectionSession, load_runtime
from mmshuffle.engine.cli import (CLIError, fix_dataloaders, format_metrics,
                                  load_config, run_cli)
from mmshuffle.engine.configs import (build_model, class_names, one_by_one,
                                      palette_of, task_of)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--shape', type=int, nargs='+',
        help='input size: H [W] (default 224 for a classifier; for a '
        "detector the test pipeline's Resize scale, rounded up to the size "
        'divisor: the example size, H and W stay dynamic)')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='export with a variable batch size')
    parser.add_argument('--backbone-only', action='store_true',
                        help='export the backbone and its feature maps')
    parser.add_argument(
        '--raw-input', action='store_true',
        help='detector: fold channel conversion and normalisation in (the '
        'graph takes 0-255 pixels)')
    parser.add_argument(
        '--image-hw', action='store_true',
        help='detector: a second input image_hw (N x 2), the valid height '
        'and width of each image of a padded batch, to clip its boxes to')
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest allowed |PyTorch - onnxruntime|')
    parser.add_argument(
        '--check-images', default='2', metavar='N|DIR',
        help="detector: compare on the first N images of the config's "
        'test set, or on the images of folder DIR (0: no check)')
    parser.add_argument('--box-tolerance', type=float, default=0.05,
                        help='detector: largest box difference (pixels)')
    parser.add_argument('--score-tolerance', type=float, default=1e-4,
                        help='detector: largest score difference')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config (key=value)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.shape is not None and len(args.shape) not in (1, 2):
        raise CLIError(f'--shape takes H or H W, got {args.shape}')
    if not osp.isfile(args.checkpoint):
        raise CLIError(f'checkpoint {args.checkpoint!r} does not exist')
    if not args.out.endswith('.onnx'):
        raise CLIError(f'--out must name a .onnx file, got {args.out!r}')
    args.check_images = check_images_arg(args.check_images)
    cfg = load_config(args.config, args.cfg_options)
    try:
        task = task_of(cfg)
    except ValueError as err:
        raise CLIError(f'{args.config!r}: {err}') from None
    model = build_model(cfg, pretrained=False)
    try:
        checkpoint = load_checkpoint(model, args.checkpoint,
                                     map_location='cpu', strict=True,
                                     logger='silent')
    except RuntimeError as err:
        detail = ' '.join(str(err).split())
        if len(detail) > 300:
            detail = detail[:300] + '...'
        raise CLIError(f'checkpoint {args.checkpoint!r} does not fit the '
                       f'model of {args.config!r}: {detail}') from None
    model.eval()
    # the file describes itself: the config's pipeline, classes, names
    model.dataset_meta = dict(classes=class_names(
        cfg, (checkpoint.get('meta') or {}).get('dataset_meta') or {}))
    meta = config_metadata(cfg, args.config, model.dataset_meta['classes'],
                           palette_of(cfg))
    if task == 'detection' and not args.backbone_only:
        return export_detection(args, cfg, model, meta)
    if args.raw_input or args.image_hw:
        raise CLIError(f'--{"raw-input" if args.raw_input else "image-hw"} '
                       'applies to detectors only')
    if isinstance(args.check_images, str):
        raise CLIError('--check-images DIR applies to detectors (a '
                       'classifier is checked on random inputs)')
    shape = tuple(args.shape or [224])
    shape = shape * 2 if len(shape) == 1 else shape
    try:
        check_shape(shape)
    except ValueError as err:
        raise CLIError(f'--shape: {err}') from None
    if args.backbone_only:
        wrapped = BackboneForExport(model.backbone)
        names = [f'feat{i}' for i in range(len(model.backbone.out_indices))]
        meta.update(task='backbone', **preprocessor_metadata(
            model.data_preprocessor))
    else:
        wrapped = ClassifierForExport(model)
        names = ['logits']
    meta['input_hw'] = json.dumps(list(shape))
    # the check compares with the model as trained (eval mode), not with
    # the deploy form that gets exported
    reference = copy.deepcopy(wrapped).eval()
    try:
        export_onnx(wrapped, args.out, shape, args.dynamic_batch,
                    args.opset, names, meta)
    except ValueError as err:
        raise CLIError(str(err)) from None
    batches = (1, 8) if args.dynamic_batch else (1, )
    worst = 0.0
    for result in compare_with_onnxruntime(reference, args.out, batches):
        worst = max(worst, result['max_abs_diff'])
        print(f'batch {result["batch"]}: max |PyTorch - onnxruntime| = '
              f'{result["max_abs_diff"]:.3g}')
    print(f'exported {args.out} (input 1x3x{shape[0]}x{shape[1]}'
          f'{", dynamic batch" if args.dynamic_batch else ""}; outputs '
          f'{", ".join(names)})')
    if not worst <= args.tolerance:
        print(f'error: onnxruntime differs from PyTorch by {worst:.3g} > '
              f'--tolerance {args.tolerance}', file=sys.stderr)
        sys.exit(1)


def default_detection_shape(cfg, divisor):
    """The test pipeline's Resize scale as (H, W), rounded up to
    ``divisor`` (320 x 320 when the pipeline has none)."""
    pipeline = (cfg.get('test_dataloader') or {}).get('dataset', {}).get(
        'pipeline', [])
    for step in pipeline:
        if 'Resize' in str(step.get('type', '')) and step.get('scale'):
            scale = step['scale']
            width, height = (scale, scale) if isinstance(scale, int) \
                else (max(scale), min(scale)) if step.get('keep_ratio') \
                else scale
            return tuple(-(-v // divisor) * divisor for v in (height, width))
    return (-(-320 // divisor) * divisor, ) * 2


def check_images_arg(value):
    """``--check-images``: a count >= 0, or an existing folder."""
    if value.isdigit():
        return int(value)
    if osp.isdir(value):
        return value
    raise CLIError(f'--check-images takes a number of test images or a '
                   f'folder of images, got {value!r} (no such folder)')


def check_batches(cfg, source):
    """Batches of one image each, through the config's test pipeline:
    the first ``source`` images of its test set, or the images of the
    folder ``source``; and what they are, in words."""
    if source == 0:
        return [], 'no images'
    if isinstance(source, str):
        from mmshuffle.apis.images import ImageReadError, read_image
        from mmshuffle.apis.inference import (loads_float32, prepare_image,
                                              test_pipeline)
        from mmshuffle.deploy.standalone import expand_inputs
        try:
            paths = expand_inputs([source])
            pipeline, to_float32 = test_pipeline(cfg), loads_float32(cfg)
            batches = []
            for path in paths:
                data = prepare_image(pipeline, read_image(path), path,
                                     to_float32)
                batches.append(dict(inputs=[data['inputs']],
                                    data_samples=[data['data_samples']]))
        except (ValueError, ImageReadError) as err:
            raise CLIError(f'--check-images: {err}') from None
        return batches, f'{len(batches)} image(s) of {source}'
    try:
        fix_dataloaders(cfg)
        batches = []
        for data in one_by_one(cfg, 'test_dataloader'):
            batches.append(data)
            if len(batches) == source:
                break
    except Exception as err:  # the data set is not there
        detail = ' '.join(str(err).split())[:300]
        raise CLIError(
            f"cannot read the config's test set to check the export "
            f'({type(err).__name__}: {detail}); pass --check-images DIR '
            'with a folder of your images, or --check-images 0 to export '
            'without the check') from None
    if not batches:
        raise CLIError("the config's test set holds no images to check the "
                       'export on; pass --check-images DIR, or '
                       '--check-images 0 to export without the check')
    return batches, f'{len(batches)} test image(s)'


def export_detection(args, cfg, model, meta):
    try:
        wrapped = DetectorForExport(model, raw_input=args.raw_input,
                                    image_hw_input=args.image_hw)
    except UnsupportedDetectorError as err:
        raise CLIError(f'cannot export {args.config!r}: {err}') from None
    divisor = wrapped.size_divisor
    if args.shape:
        shape = tuple(args.shape * 2 if len(args.shape) == 1 else args.shape)
    else:
        shape = default_detection_shape(cfg, divisor)
    try:
        check_detection_shape(shape, divisor)
    except ValueError as err:
        raise CLIError(f'--shape: {err}') from None
    reference = copy.deepcopy(model).eval()
    batches, source = check_batches(cfg, args.check_images)
    try:
        export_detector(wrapped, args.out, shape, args.dynamic_batch,
                        args.opset, meta)
    except UnsupportedDetectorError as err:
        raise CLIError(f'cannot export {args.config!r}: {err}') from None
    except ValueError as err:
        raise CLIError(str(err)) from None
    print(f'exported {args.out} (input Nx3xHxW, H and W multiples of '
          f'{divisor}{", dynamic batch" if args.dynamic_batch else ""}, '
          f'{"raw 0-255 pixels" if args.raw_input else "normalised"}'
          f'{"; input image_hw Nx2" if args.image_hw else ""}; '
          f'outputs dets, labels)')
    import torch
    if not batches:
        print('not checked (--check-images 0)')
        return
    session = DetectionSession(load_runtime(args.out))
    reference_dets, onnx_dets = [], []
    with torch.no_grad():
        for data in batches:
            inputs = reference.data_preprocessor(data, False)['inputs']
            reference_dets += predict_reference(reference, inputs)
            onnx_dets += split_detections(*session(inputs.numpy()))
    result = compare_detections(
        reference_dets, onnx_dets, args.box_tolerance, args.score_tolerance,
        cut=(wrapped.post.score_thr, wrapped.post.max_per_img))
    print(f'checked on {source}: {result["reference"]} PyTorch '
          f'detections, {result["outputs"]} from onnxruntime, '
          f'{result["matched"]} matched, {result["cut_ties"]} unmatched '
          'at the top-K/threshold cut with equal scores (max box difference '
          f'{result["max_box_diff"]:.3g} px, max score difference '
          f'{result["max_score_diff"]:.3g})')
    print(format_metrics({'check/images': len(batches),
                          'check/pytorch': result['reference'],
                          'check/onnxruntime': result['outputs'],
                          'check/matched': result['matched']}))
    if not result['ok']:
        print(f'error: onnxruntime detections differ from PyTorch\'s '
              f'(--box-tolerance {args.box_tolerance}, --score-tolerance '
              f'{args.score_tolerance})', file=sys.stderr)
        sys.exit(1)
    if result['matched'] == 0:
        found = 'neither PyTorch nor onnxruntime found a box' if not (
            result['reference'] or result['outputs']) else \
            'no box of one side had a twin on the other'
        print(f'error: nothing was compared: {found} on the {source} '
              f'(score_thr {wrapped.post.score_thr}); check on images with '
              'objects (--check-images DIR)', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    run_cli(main)
