"""Export a classifier, a detector (end to end) or a backbone alone, to
ONNX, OpenVINO IR or an ExecuTorch program, in fp32 or INT8, and check the
file against PyTorch. ``tools/deployment/export.py`` and
``tools/deployment/pytorch2onnx.py`` (ONNX by default) run :func:`main`.

    python tools/deployment/export.py CONFIG CHECKPOINT --out PATH
        [--format onnx|openvino|executorch] [--int8 [--calib-images N]
        [--calib-dir DIR]] [--shape H [W]] [--dynamic-batch]
        [--backbone-only] [--raw-input] [--image-hw] [--nms-pre N]
        [--opset 18] [--tolerance 1e-4] [--check-images N|DIR]
        [--cfg-options ...]

The model of CONFIG is built, CHECKPOINT is loaded strictly, the model is
switched to its deploy form (BatchNorm folded) and exported:

* ``onnx`` (``--out`` a ``.onnx`` file): one graph, checked in
  onnxruntime;
* ``openvino`` (``--out`` a ``.xml`` file, its ``.bin`` beside it): the
  ONNX graph converted to OpenVINO IR (the check runs on the ONNX graph it
  was converted from);
* ``executorch`` (``--out`` a ``.pte`` file): an ExecuTorch program with
  the XNNPACK delegate (:mod:`mmshuffle.deploy.executorch`), batch 1. A
  classifier's input size is fixed (``--shape``); a detector's H and W are
  any multiples of its size divisor up to ``--shape`` (the program's memory
  is planned for it), and its program stops before NMS, which
  :func:`mmshuffle.deploy.detection.host.host_nms` runs on the host (numpy;
  ExecuTorch has no NMS kernel). Two-stage detectors need NMS and RoIAlign
  between their stages and are refused (export them to ONNX/OpenVINO).

A classifier exports as ``input`` (normalised N x 3 x H x W, see the
config's ``data_preprocessor``) -> ``logits``, checked on random input
against the checkpoint's model in PyTorch as trained (eval mode, BatchNorm
not folded): batch 1, and batch 8 with ``--dynamic-batch``; the tool fails
(exit 1) above ``--tolerance``. ``--backbone-only`` exports the backbone
(of a classification or a detection config) as ``input`` -> ``feat0,
feat1, ...``, the multi-scale maps of its ``out_indices``.

A detection config (mmdet) exports the whole detector
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
(without it, to the input tensor: the same for images that fill it).
``--nms-pre N`` caps the candidates each level passes to NMS (the dense
head's ``test_cfg.nms_pre``, a two-stage detector's RPN's; by default the
config's: COCO RTMDet-lite keeps 30000 per level, which the graph decodes
and gathers on every call); the check's PyTorch side uses the same cap. The
check runs images through the config's test pipeline, mmdet's predict path
and the exported file: ``--check-images N`` the first N of the config's
test set (2 by default), ``--check-images DIR`` the images of a folder of
yours. It fails (exit 1) unless every box matches one of the same class
within ``--box-tolerance`` pixels and ``--score-tolerance`` (boxes at the
score threshold, or at the other side's full top-K cut, aside), and when no
box was matched (nothing was compared: check on images with objects). A
test set that cannot be read, or holds no image, is an error before
anything is exported (pass a folder, or ``--check-images 0`` to export
without the check).

``--int8`` quantizes after calibrating on ``--calib-images`` images (64 by
default) drawn from the config's val set, or the first of ``--calib-dir``
(a folder of your images), always through the config's *test* pipeline and
data preprocessor. ONNX and OpenVINO: onnxruntime's static QDQ
quantization of the exported graph (:mod:`mmshuffle.deploy.quantize`, as
``tools/deployment/quantize.py``, 7-bit weights); ExecuTorch: PT2E with
XNNPACK's quantizer (per-channel symmetric int8 weights; a detector's
post-processing stays in float). An INT8 file is not held to the fp32
tolerance: the tool prints its difference (a classifier's) and
``tools/deployment/test_onnx.py`` measures its accuracy.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import tempfile

from mmengine.config import DictAction
from mmengine.runner import load_checkpoint

from mmshuffle.deploy.detection import (DetectorForExport,
                                        UnsupportedDetectorError,
                                        check_detection_shape,
                                        export_detector, set_nms_pre)
from mmshuffle.deploy.metadata import config_metadata, preprocessor_metadata
from mmshuffle.deploy.onnx import (BackboneForExport, ClassifierForExport,
                                   check_shape, compare_with_onnxruntime,
                                   export_onnx)
from mmshuffle.deploy.export_checks import (calibration, check_batches,
                                            check_detections,
                                            check_images_arg,
                                            default_detection_shape)
from mmshuffle.deploy.export_phone import (export_detection_executorch,
                                           export_detection_ncnn,
                                           export_module_mobile)
from mmshuffle.engine.cli import CLIError, load_config
from mmshuffle.engine.configs import (build_model, class_names, palette_of,
                                      task_of)

#: each format's file
FORMATS = {'onnx': '.onnx', 'openvino': '.xml', 'executorch': '.pte',
           'ncnn': '.param'}


def parse_args(argv=None, default_format='onnx', doc=__doc__):
    parser = argparse.ArgumentParser(description=doc.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True,
                        help='the file: .onnx, .xml (openvino), .pte '
                        '(executorch) or .param (ncnn: .bin and .json '
                        'beside it)')
    parser.add_argument('--format', choices=tuple(FORMATS),
                        default=default_format,
                        help=f'what to write (default {default_format})')
    parser.add_argument(
        '--int8', action='store_true',
        help='quantize to INT8, calibrated through the test pipeline')
    parser.add_argument(
        '--fp16', action='store_true',
        help="ncnn: store the weights in fp16 and run ncnn's fp16 paths "
        '(not held to --tolerance)')
    parser.add_argument('--calib-images', '--calib', type=int, default=64,
                        help='calibration images (default 64)')
    parser.add_argument('--calib-dir',
                        help='calibrate on the images of this folder '
                        "instead of the config's val set")
    parser.add_argument(
        '--shape', type=int, nargs='+',
        help='input size: H [W] (default 224 for a classifier; for a '
        "detector the test pipeline's Resize scale, rounded up to the size "
        'divisor: the example size, H and W stay dynamic (executorch: up '
        'to it))')
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
    parser.add_argument(
        '--nms-pre', type=int,
        help="detector: keep at most N candidates per level before NMS "
        "(the dense head's, or a two-stage detector's RPN; default: the "
        "config's test_cfg nms_pre)")
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest allowed |PyTorch - exported|')
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


def check_args(args):
    """One-line errors for options that do not go together."""
    if args.shape is not None and len(args.shape) not in (1, 2):
        raise CLIError(f'--shape takes H or H W, got {args.shape}')
    if not osp.isfile(args.checkpoint):
        raise CLIError(f'checkpoint {args.checkpoint!r} does not exist')
    ext = FORMATS[args.format]
    if not args.out.endswith(ext):
        raise CLIError(f'--format {args.format} writes a {ext} file; --out '
                       f'must name one, got {args.out!r}')
    if args.format in ('executorch', 'ncnn'):
        for flag in ('dynamic_batch', 'image_hw'):
            if getattr(args, flag):
                raise CLIError(
                    f'--{flag.replace("_", "-")} does not apply to '
                    f'--format {args.format} (batch 1; the host clips each '
                    "image's boxes)")
    if args.fp16 and args.format != 'ncnn':
        raise CLIError(f'--fp16 applies to --format ncnn, not '
                       f'{args.format}')
    if args.int8 and args.format == 'ncnn':
        raise CLIError(
            "--int8 does not apply to --format ncnn: ncnn's INT8 needs its "
            'ncnn2table/ncnn2int8 tools, which the pip packages do not '
            'ship (export fp32, or --fp16)')
    if args.int8:
        if args.calib_images < 1:
            raise CLIError(f'--calib-images must be >= 1, got '
                           f'{args.calib_images}')
        if args.calib_dir is not None and not osp.isdir(args.calib_dir):
            raise CLIError(f'--calib-dir {args.calib_dir!r} is not a '
                           'folder')
        if args.backbone_only:
            raise CLIError('--int8 applies to classifiers and detectors, '
                           'not to --backbone-only')
    elif args.calib_dir is not None:
        raise CLIError('--calib-dir applies with --int8')
    if args.nms_pre is not None and args.nms_pre < 1:
        raise CLIError(f'--nms-pre must be >= 1, got {args.nms_pre}')
    args.check_images = check_images_arg(args.check_images)


def main(argv=None, default_format='onnx', doc=__doc__):
    args = parse_args(argv, default_format, doc)
    check_args(args)
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
    if args.raw_input or args.image_hw or args.nms_pre is not None:
        flag = 'raw-input' if args.raw_input else 'image-hw' \
            if args.image_hw else 'nms-pre'
        raise CLIError(f'--{flag} applies to detectors only')
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
        meta = dict(wrapped.metadata(), **meta)
    meta['input_hw'] = json.dumps(list(shape))
    # the check compares with the model as trained (eval mode), not with
    # the deploy form that gets exported
    reference = copy.deepcopy(wrapped).eval()
    if args.format in ('executorch', 'ncnn'):
        return export_module_mobile(args, cfg, wrapped, reference, shape,
                                    names, meta)
    with _onnx_first(args) as onnx_path:
        try:
            export_onnx(wrapped, onnx_path, shape, args.dynamic_batch,
                        args.opset, names, meta)
        except ValueError as err:
            raise CLIError(str(err)) from None
        batches = (1, 8) if args.dynamic_batch else (1, )
        worst = 0.0
        for result in compare_with_onnxruntime(reference, onnx_path,
                                               batches):
            worst = max(worst, result['max_abs_diff'])
            print(f'batch {result["batch"]}: max |PyTorch - onnxruntime| = '
                  f'{result["max_abs_diff"]:.3g}')
        _finish_onnx(args, cfg, onnx_path)
    print(f'exported {args.out} (input 1x3x{shape[0]}x{shape[1]}'
          f'{", dynamic batch" if args.dynamic_batch else ""}; outputs '
          f'{", ".join(names)})')
    if not worst <= args.tolerance:
        print(f'error: onnxruntime differs from PyTorch by {worst:.3g} > '
              f'--tolerance {args.tolerance}', file=sys.stderr)
        sys.exit(1)


class _onnx_first:
    """The ONNX file the onnx and openvino formats start from: ``--out``
    itself for fp32 ONNX, else a temporary file (removed afterwards)
    that :func:`_finish_onnx` converts or quantizes into ``--out``."""

    def __init__(self, args):
        self.args = args
        self.tmp = None

    def __enter__(self):
        if self.args.format == 'onnx' and not self.args.int8:
            return self.args.out
        directory = osp.dirname(osp.abspath(self.args.out))
        os.makedirs(directory, exist_ok=True)
        self.tmp = tempfile.TemporaryDirectory(dir=directory)
        return osp.join(self.tmp.name, 'fp32.onnx')

    def __exit__(self, *exc):
        if self.tmp is not None:
            self.tmp.cleanup()


def _finish_onnx(args, cfg, onnx_path):
    """``--out`` from the fp32 ONNX file: quantized (``--int8``) and/or
    converted to OpenVINO IR."""
    if args.int8:
        from mmshuffle.deploy.metadata import read_metadata
        from mmshuffle.deploy.quantize import quantize_onnx
        inputs = calibration(args, cfg, read_metadata(onnx_path))
        try:
            quantize_onnx(onnx_path, args.out, inputs)
        except (ValueError, ImportError) as err:
            raise CLIError(str(err)) from None
        print(f'quantized to INT8 (QDQ, 7-bit weights) on '
              f'{len(inputs)} images of {args.calib_dir or "the val set"} '
              'through the test pipeline')
    elif args.format == 'openvino':
        from mmshuffle.deploy.openvino import write_ir
        try:
            write_ir(onnx_path, args.out)
        except ImportError as err:
            raise CLIError(str(err)) from None




def export_detection(args, cfg, model, meta):
    host = args.format in ('executorch', 'ncnn')
    if args.nms_pre is not None:
        head = set_nms_pre(model, args.nms_pre)
        meta['nms_pre'] = str(args.nms_pre)
        print(f'{head}.test_cfg.nms_pre = {args.nms_pre} (--nms-pre)')
    try:
        wrapped = DetectorForExport(model, raw_input=args.raw_input,
                                    image_hw_input=args.image_hw,
                                    nms='host' if host else 'graph',
                                    decode='host' if args.format == 'ncnn'
                                    else 'graph')
    except UnsupportedDetectorError as err:
        where = {'executorch': ' to ExecuTorch', 'ncnn': ' to ncnn'}.get(
            args.format, '')
        raise CLIError(f'cannot export {args.config!r}{where}: {err}') \
            from None
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
    if args.format == 'ncnn':
        return export_detection_ncnn(args, wrapped, reference, batches,
                                     source, shape, meta)
    if args.format == 'executorch':
        return export_detection_executorch(args, cfg, wrapped, reference,
                                           batches, source, shape, meta)
    with _onnx_first(args) as onnx_path:
        try:
            export_detector(wrapped, onnx_path, shape, args.dynamic_batch,
                            args.opset, meta)
        except UnsupportedDetectorError as err:
            raise CLIError(f'cannot export {args.config!r}: {err}') \
                from None
        except ValueError as err:
            raise CLIError(str(err)) from None
        print(f'exported {args.out} (input Nx3xHxW, H and W multiples of '
              f'{divisor}{", dynamic batch" if args.dynamic_batch else ""}, '
              f'{"raw 0-255 pixels" if args.raw_input else "normalised"}'
              f'{"; input image_hw Nx2" if args.image_hw else ""}; '
              f'outputs dets, labels)')
        # the graph is checked before it is converted or quantized
        check_detections(args, wrapped, reference, batches, source,
                         onnx_path, 'onnxruntime')
        _finish_onnx(args, cfg, onnx_path)

