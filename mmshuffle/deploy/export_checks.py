"""What ``tools/deployment/export.py`` checks around an export: the
detection check's images and its box-for-box comparison, the default
detection size, and ``--int8``'s calibration inputs
(:mod:`mmshuffle.deploy.export_tool`)."""
import json
import os.path as osp
import sys

from mmshuffle.engine.cli import CLIError, fix_dataloaders, format_metrics
from mmshuffle.engine.configs import one_by_one

from .detection import compare_detections, predict_reference, \
    split_detections
from .runtime import DetectionSession, load_runtime


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
        from mmshuffle.engine.configs import (loads_float32, prepare_image,
                                              test_pipeline)

        from .standalone import ImageReadError, expand_inputs, read_image
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


def calibration(args, cfg, meta, largest=None):
    """``--int8``'s calibration inputs (one array per image) as the
    exported file's input takes them (:func:`calibration_images`)."""
    from mmshuffle.deploy.quantize import calibration_images
    try:
        inputs = calibration_images(cfg, args.calib_images, 0, meta,
                                    args.calib_dir)
    except ValueError as err:
        option = f'--calib-dir {args.calib_dir}' if args.calib_dir else \
            f'--calib-images {args.calib_images}'
        raise CLIError(f'{option}: {err}') from None
    expected = json.loads(meta.get('input_hw', 'null'))
    for image in inputs:
        size = tuple(image.shape[2:])
        if largest is not None and (size[0] > largest[0] or
                                    size[1] > largest[1]):
            raise CLIError(
                f'a calibration image is {size[0]}x{size[1]} after the '
                f'test pipeline, larger than the export --shape '
                f'{largest[0]} {largest[1]}; export with a --shape that '
                'covers the test pipeline')
        if largest is None and expected and list(size) != list(expected):
            raise CLIError(
                f'the test pipeline gives {size[0]}x{size[1]} images but '
                f'the model is exported for {expected[0]}x{expected[1]} '
                '(give the pipeline a resize, or export at that size)')
    return inputs

def check_detections(args, wrapped, reference, batches, source, path,
                     runtime_name):
    """The exported detector's boxes against mmdet's own predictions,
    image by image (exit 1 where they differ or nothing was compared)."""
    import torch
    if not batches:
        print('not checked (--check-images 0)')
        return
    session = DetectionSession(load_runtime(path, runtime_name))
    reference_dets, exported_dets = [], []
    with torch.no_grad():
        for data in batches:
            inputs = reference.data_preprocessor(data, False)['inputs']
            reference_dets += predict_reference(reference, inputs)
            try:
                exported_dets += split_detections(*session(inputs.numpy()))
            except ValueError as err:
                raise CLIError(f'--check-images: {err}') from None
    result = compare_detections(
        reference_dets, exported_dets, args.box_tolerance,
        args.score_tolerance,
        cut=(wrapped.post.score_thr, wrapped.post.max_per_img))
    print(f'checked on {source}: {result["reference"]} PyTorch '
          f'detections, {result["outputs"]} from {runtime_name}, '
          f'{result["matched"]} matched, {result["cut_ties"]} unmatched '
          'at the top-K/threshold cut with equal scores (max box difference '
          f'{result["max_box_diff"]:.3g} px, max score difference '
          f'{result["max_score_diff"]:.3g})')
    print(format_metrics({'check/images': len(batches),
                          'check/pytorch': result['reference'],
                          f'check/{runtime_name}': result['outputs'],
                          'check/matched': result['matched']}))
    if not result['ok']:
        print(f'error: {runtime_name} detections differ from PyTorch\'s '
              f'(--box-tolerance {args.box_tolerance}, --score-tolerance '
              f'{args.score_tolerance})', file=sys.stderr)
        sys.exit(1)
    if result['matched'] == 0:
        found = f'neither PyTorch nor {runtime_name} found a box' if not (
            result['reference'] or result['outputs']) else \
            'no box of one side had a twin on the other'
        print(f'error: nothing was compared: {found} on the {source} '
              f'(score_thr {wrapped.post.score_thr}); check on images with '
              'objects (--check-images DIR)', file=sys.stderr)
        sys.exit(1)
