"""INT8 post-training quantization of an exported classifier or detector.

    python tools/deployment/quantize.py CONFIG MODEL.onnx --out M_int8.onnx
        [--calib 64] [--calib-dir DIR] [--seed 0] [--float-predictors]
        [--weight-bits 7]

MODEL.onnx is a file exported by ``tools/deployment/pytorch2onnx.py``
(a classifier, or an end-to-end detector). ``--calib`` images (also
``--calib-images``) are drawn (seeded) from the config's val set, or taken
from ``--calib-dir`` (a folder of your own images: the first N), and go
through the config's *test* pipeline and data preprocessor, as the
deployed model will see them (not the train pipeline, whose augmentations
widen the ranges beyond anything seen at deployment); their
activation ranges calibrate onnxruntime's static quantization (QDQ:
per-channel int8 weights, uint8 activations, on Conv/Gemm/MatMul; see
:mod:`mmshuffle.deploy.quantize`). ``--out`` ending in ``.xml`` writes an
OpenVINO IR of the quantized model instead (its ``.bin`` beside it).
``--float-predictors`` keeps a detector's last class/box convolutions in
float. ``--weight-bits 8`` quantizes the weights to the full int8 range,
only right on CPUs with VNNI and on ARM; the default 7 bits keep x86 CPUs
without VNNI from saturating. Evaluate the result with
``tools/deployment/test_onnx.py``.
"""
import argparse
import os.path as osp

import mmshuffle  # noqa: F401  (registers transforms and loaders)
from mmshuffle.engine.cli import CLIError, load_config, run_cli
from mmshuffle.engine.configs import task_of


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('model', help='the exported .onnx file')
    parser.add_argument('--out', required=True,
                        help='the INT8 model: .onnx, or .xml (OpenVINO IR)')
    parser.add_argument('--calib', '--calib-images', type=int, default=64,
                        help='calibration images (default 64)')
    parser.add_argument('--calib-dir',
                        help='calibrate on the images of this folder '
                        "instead of the config's val set")
    parser.add_argument('--seed', type=int, default=0,
                        help='which val images calibrate')
    parser.add_argument('--float-predictors', action='store_true',
                        help="detector: keep the head's last convolutions "
                        'in float')
    parser.add_argument('--weight-bits', type=int, default=7,
                        help='7 (default): right on every CPU; 8: only for '
                        'CPUs with VNNI or ARM (x86 without VNNI saturates)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.model):
        raise CLIError(f'model {args.model!r} does not exist')
    if not args.model.endswith('.onnx'):
        raise CLIError(f'MODEL must be an exported .onnx file, got '
                       f'{args.model!r}')
    if not args.out.endswith(('.onnx', '.xml')):
        raise CLIError(f'--out must name a .onnx or .xml file, got '
                       f'{args.out!r}')
    if args.calib < 1:
        raise CLIError(f'--calib must be >= 1, got {args.calib}')
    if args.calib_dir is not None and not osp.isdir(args.calib_dir):
        raise CLIError(f'--calib-dir {args.calib_dir!r} is not a folder')
    if args.weight_bits not in (7, 8):
        raise CLIError(f'--weight-bits must be 7 or 8, got '
                       f'{args.weight_bits}')
    import onnx

    from mmshuffle.deploy.metadata import read_metadata
    from mmshuffle.deploy.quantize import (calibration_images,
                                           head_predictors, quantize_onnx)
    try:
        meta = read_metadata(args.model)
        proto = onnx.load(args.model)
    except Exception as err:
        raise CLIError(f'cannot read {args.model!r} as ONNX: '
                       f'{str(err).strip().splitlines()[0]}') from None
    if meta.get('precision') == 'int8':
        raise CLIError(f'{args.model!r} is already quantized')
    cfg = load_config(args.config, None)
    try:
        kind = task_of(cfg)
    except ValueError as err:
        raise CLIError(f'{args.config!r}: {err}') from None
    task = meta.get('task', 'classification')
    if kind != task:
        raise CLIError(f'{args.model!r} is a {task} model but '
                       f'{args.config!r} is a {kind} config')
    shape = [d.dim_value or None
             for d in proto.graph.input[0].type.tensor_type.shape.dim]
    try:
        inputs = calibration_images(cfg, args.calib, args.seed, meta,
                                    args.calib_dir)
    except ValueError as err:
        option = f'--calib-dir {args.calib_dir}' if args.calib_dir else \
            f'--calib {args.calib}'
        raise CLIError(f'{option}: {err}') from None
    if task != 'detection' and any(
            s is not None and s != v
            for image in inputs
            for s, v in zip(shape[2:], image.shape[2:])):
        raise CLIError('the test pipeline gives images of another size '
                       f'than the {shape[2:]} {args.model!r} takes (give '
                       'it a resize, or export at that size)')
    excluded = set(head_predictors(proto)) if args.float_predictors else set()
    try:
        quantize_onnx(args.model, args.out, inputs,
                      exclude=lambda node: node.name in excluded,
                      weight_bits=args.weight_bits)
    except (ValueError, ImportError) as err:
        raise CLIError(str(err)) from None
    kept = f', {len(excluded)} predictor convs kept in float' \
        if excluded else ''
    source = args.calib_dir or 'the val set'
    print(f'quantized {args.model} -> {args.out} (INT8 QDQ, '
          f'{args.weight_bits}-bit weights, calibrated on {len(inputs)} '
          f'images of {source} through the test pipeline{kept})')


if __name__ == '__main__':
    run_cli(main)
