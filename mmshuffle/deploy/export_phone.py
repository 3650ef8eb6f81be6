"""The phone formats of ``tools/deployment/export.py``
(:mod:`mmshuffle.deploy.export_tool`): a classifier or backbone, or a
single-stage detector, as an ExecuTorch program or an ncnn model, and the
checks around them."""
import os
import sys

from mmshuffle.engine.cli import CLIError

from .detection import UnsupportedDetectorError
from .export_checks import calibration, check_detections
from .runtime import DetectionSession, load_runtime


def export_module_mobile(args, cfg, wrapped, reference, shape, names,
                         meta):
    """A classifier or backbone as an ExecuTorch program or an ncnn model,
    checked on a random input against PyTorch."""
    import numpy as np
    import torch
    if args.format == 'executorch':
        from mmshuffle.deploy.executorch import ExecuTorchExportError as \
            ExportError
        from mmshuffle.deploy.executorch import export_module_pte
        inputs = calibration(args, cfg, meta) if args.int8 else None
        kind = 'INT8' if args.int8 else 'fp32'
        runtime_name, detail = 'ExecuTorch', f'ExecuTorch, XNNPACK, {kind}'

        def export():
            export_module_pte(wrapped, args.out, shape, meta, names, inputs)
    else:
        from mmshuffle.deploy.ncnn import NcnnExportError as ExportError
        from mmshuffle.deploy.ncnn import export_module_ncnn
        kind = 'fp16' if args.fp16 else 'fp32'
        runtime_name, detail = 'ncnn', f'ncnn (pnnx), {kind}'

        def export():
            export_module_ncnn(wrapped, args.out, shape, meta, names,
                               args.fp16)
    try:
        export()
    except (ExportError, ValueError, ImportError) as err:
        raise CLIError(str(err)) from None
    runtime = load_runtime(args.out, args.format)
    x = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x)
    expected = (expected, ) if isinstance(expected, torch.Tensor) else \
        expected
    outputs = runtime(x.numpy())
    worst = max(float(np.abs(o - e.numpy()).max())
                for o, e in zip(outputs, expected))
    print(f'batch 1: max |PyTorch - {runtime_name} {kind}| = {worst:.3g}')
    if args.int8:
        print(f'quantized to INT8 (PT2E, XNNPACK) on {len(inputs)} images '
              f'of {args.calib_dir or "the val set"} through the test '
              'pipeline; its accuracy: tools/deployment/test_onnx.py')
    print(f'exported {args.out} ({detail}; input 1x3x{shape[0]}x{shape[1]}'
          f'; outputs {", ".join(names)})')
    if kind == 'fp32' and not worst <= args.tolerance:
        print(f'error: {runtime_name} differs from PyTorch by {worst:.3g} > '
              f'--tolerance {args.tolerance}', file=sys.stderr)
        sys.exit(1)


def smoke_run(path, shape):
    """Load the detector program ``path`` and run it once on a blank
    image, so that a program XNNPACK refuses fails here, at export, and
    not in the field (the file is removed then)."""
    import numpy as np
    try:
        session = DetectionSession(load_runtime(path, 'executorch'))
        session(np.zeros((1, 3, *shape), np.float32))
    except Exception as err:  # noqa: BLE001  (one line, file removed)
        os.remove(path)
        raise CLIError(f'ExecuTorch cannot run the program it was given '
                       f'({" ".join(str(err).split())[:300]}); '
                       f'{path} was not kept') from None


def export_detection_ncnn(args, wrapped, reference, batches, source, shape,
                          meta):
    """A detector (``decode='host'``) as an ncnn model, checked box for
    box against mmdet on ``batches`` (fp32)."""
    divisor = wrapped.size_divisor
    from mmshuffle.deploy.detection.export import export_detector_ncnn
    from mmshuffle.deploy.ncnn import NcnnExportError
    try:
        export_detector_ncnn(wrapped, args.out, shape, meta, args.fp16)
    except (NcnnExportError, UnsupportedDetectorError, ValueError,
            ImportError) as err:
        raise CLIError(f'cannot export {args.config!r} to ncnn: {err}') \
            from None
    from mmshuffle.deploy.ncnn import read_ncnn_metadata
    pixels = 'raw 0-255 pixels' if args.raw_input else 'normalised'
    size = f'1x3xHxW, H and W multiples of {divisor}' if \
        read_ncnn_metadata(args.out)['dynamic_hw'] == 'true' else \
        f'1x3x{shape[0]}x{shape[1]} (pnnx fixed a size in the graph; ' \
        'smaller images are padded)'
    print(f'exported {args.out} (ncnn (pnnx), '
          f'{"fp16" if args.fp16 else "fp32"}; input {size}, {pixels}; '
          "outputs the head's maps, which mmshuffle.deploy.detection."
          'host decodes and NMSes)')
    if args.fp16:
        print('fp16: not compared box for box (its accuracy: '
              'tools/deployment/test_onnx.py)')
        return
    return check_detections(args, wrapped, reference, batches, source,
                             args.out, 'ncnn')


def export_detection_executorch(args, cfg, wrapped, reference, batches,
                                source, shape, meta):
    """A detector (``nms='host'``) as an ExecuTorch program: fp32, checked
    box for box against mmdet on ``batches``, or INT8, loaded and run."""
    divisor = wrapped.size_divisor
    runtime_name = 'executorch'
    with_meta = dict(wrapped.metadata(), **meta)
    inputs = calibration(args, cfg, with_meta, shape) if args.int8 \
        else None
    from mmshuffle.deploy.detection.export import export_detector_pte
    from mmshuffle.deploy.executorch import ExecuTorchExportError
    try:
        export_detector_pte(wrapped, args.out, shape, meta, inputs)
    except (ExecuTorchExportError, UnsupportedDetectorError,
            ValueError, ImportError) as err:
        raise CLIError(f'cannot export {args.config!r} to ExecuTorch: '
                       f'{err}') from None
    checked = args.out
    size = f'1x3x{shape[0]}x{shape[1]} (smaller images are padded)' \
        if args.int8 else f'1x3xHxW, H and W multiples of {divisor} ' \
        f'up to {shape[0]}x{shape[1]}'
    pixels = 'raw 0-255 pixels' if args.raw_input else 'normalised'
    print(f'exported {args.out} (ExecuTorch, XNNPACK, '
          f'{"INT8" if args.int8 else "fp32"}; input {size}, {pixels}; '
          'outputs boxes, scores, labels before NMS, which '
          'mmshuffle.deploy.detection.host.host_nms finishes)')
    if args.int8:
        smoke_run(args.out, shape)
        print(f'quantized to INT8 (PT2E, XNNPACK) on {len(inputs)} '
              f'images of {args.calib_dir or "the val set"} through the '
              'test pipeline; it loads and runs; not compared box for '
              'box (its accuracy: tools/deployment/test_onnx.py)')
        return
    return check_detections(args, wrapped, reference, batches, source,
                            checked, runtime_name)
