"""Export a classifier (or a backbone alone) to ONNX and check it in
onnxruntime.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out FILE.onnx
        [--shape H [W]] [--dynamic-batch] [--backbone-only] [--opset 18]
        [--tolerance 1e-4]

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
"""
import argparse
import copy
import os.path as osp
import sys

from mmengine.runner import load_checkpoint

import mmshuffle  # noqa: F401  (registers backbones, safe loading)
from mmshuffle.deploy.onnx import (BackboneForExport, ClassifierForExport,
                                   check_shape, compare_with_onnxruntime,
                                   export_onnx)
from mmshuffle.engine.cli import CLIError, build_model, load_config, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument('--shape', type=int, nargs='+', default=[224],
                        help='input size: H [W] (default 224)')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='export with a variable batch size')
    parser.add_argument('--backbone-only', action='store_true',
                        help='export the backbone and its feature maps')
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest allowed |PyTorch - onnxruntime|')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if len(args.shape) not in (1, 2):
        raise CLIError(f'--shape takes H or H W, got {args.shape}')
    shape = tuple(args.shape * 2 if len(args.shape) == 1 else args.shape)
    try:
        check_shape(shape)
    except ValueError as err:
        raise CLIError(f'--shape: {err}') from None
    if not osp.isfile(args.checkpoint):
        raise CLIError(f'checkpoint {args.checkpoint!r} does not exist')
    if not args.out.endswith('.onnx'):
        raise CLIError(f'--out must name a .onnx file, got {args.out!r}')
    cfg = load_config(args.config, None)
    model = build_model(cfg, pretrained=False)
    scope = cfg.get('default_scope', 'mmpretrain')
    try:
        load_checkpoint(model, args.checkpoint, map_location='cpu',
                        strict=True, logger='silent')
    except RuntimeError as err:
        raise CLIError(f'checkpoint {args.checkpoint!r} does not fit the '
                       f'model of {args.config!r}: {err}') from None
    model.eval()
    if args.backbone_only:
        wrapped = BackboneForExport(model.backbone)
        names = [f'feat{i}' for i in range(len(model.backbone.out_indices))]
    elif scope == 'mmdet':
        raise CLIError(f'{args.config!r} is a detection config: export its '
                       'backbone with --backbone-only')
    else:
        wrapped = ClassifierForExport(model)
        names = ['logits']
    # the check compares with the model as trained (eval mode), not with
    # the deploy form that gets exported
    reference = copy.deepcopy(wrapped).eval()
    try:
        export_onnx(wrapped, args.out, shape, args.dynamic_batch,
                    args.opset, names)
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


if __name__ == '__main__':
    run_cli(main)
