"""Evaluate an exported ONNX (or OpenVINO IR, ExecuTorch or ncnn) classifier
or detector on a config's test set, with the config's own data pipeline and
evaluator.

    python tools/deployment/test_onnx.py CONFIG
        MODEL.onnx|MODEL.xml|MODEL.pte|MODEL.param
        [--backend onnxruntime|openvino|executorch|ncnn] [--threads N]
        [--out FILE.pkl] [--cfg-options KEY=VALUE ...]

The images go through the config's test pipeline and ``data_preprocessor``
(the same normalised tensors ``tools/test.py`` feeds PyTorch), the model runs
in onnxruntime, OpenVINO (f32: OpenVINO's bf16 default is overridden; the
precision that ran is printed), ExecuTorch (XNNPACK; a detector's NMS on
the host, :mod:`mmshuffle.deploy.detection.host`) or ncnn (a detector's
decoding and NMS on the host), and the config's
``test_evaluator`` computes
the metrics, printed like ``tools/test.py`` does (``metrics {json}``).

A classifier: export it with ``--dynamic-batch`` to evaluate in batches; a
file exported for batch 1 is run one image at a time. A detector exported
end to end by ``pytorch2onnx.py`` returns final boxes in the input's
pixels; they are clipped to each image and scaled back to the original
image, as mmdet's ``rescale=True`` does, before the COCO evaluator.
"""
import argparse
import os.path as osp
import time

import torch
from mmengine.config import DictAction

import mmshuffle  # noqa: F401  (registers transforms and loaders)
from mmshuffle.datasets.checks import check_dataloader
from mmshuffle.deploy.runtime import (BACKENDS, DEFAULT_BACKEND,
                                      ClassificationSession,
                                      DetectionSession, load_runtime,
                                      to_original_image)
from mmshuffle.engine.cli import (CLIError, fix_dataloaders, format_metrics,
                                  load_config, run_cli)
from mmshuffle.engine.config_checks import check_config
from mmshuffle.engine.configs import (build_data_preprocessor,
                                      build_dataloader, scope_of, task_of)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        'model', help='the exported model: .onnx, .xml (OpenVINO IR) '
        'with --backend openvino, .pte with --backend executorch, .param '
        'with --backend ncnn')
    parser.add_argument('--backend', choices=BACKENDS,
                        help='the runtime (default: openvino for a .xml, '
                        'executorch for a .pte, ncnn for a .param, else '
                        'onnxruntime)')
    parser.add_argument('--threads', type=int, default=0,
                        help='runtime threads (0 = all cores)')
    parser.add_argument(
        '--out', help='dump the predictions to this pickle file (.pkl), '
        'in the format of tools/test.py --out')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
        help='override config settings')
    return parser.parse_args(argv)


def detections_of(session, batch, samples):
    """Run the detector on a preprocessed batch; each sample gets its
    ``pred_instances`` in original-image pixels."""
    from mmengine.structures import InstanceData
    try:
        dets, labels = session(batch['inputs'].float().numpy(),
                               [s.img_shape for s in samples])
    except ValueError as err:
        raise CLIError(str(err)) from None
    for sample, det, label in zip(samples, dets, labels):
        boxes, scores, classes = to_original_image(
            det, label, sample.img_shape,
            sample.metainfo.get('scale_factor'))
        results = InstanceData()
        results.bboxes = torch.from_numpy(boxes)
        results.scores = torch.from_numpy(scores)
        results.labels = torch.from_numpy(classes)
        sample.pred_instances = results


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.model):
        raise CLIError(f'model {args.model!r} does not exist')
    if args.threads < 0:
        raise CLIError(f'--threads must be >= 0, got {args.threads}')
    cfg = load_config(args.config, args.cfg_options)
    try:
        kind = task_of(cfg)
    except ValueError as err:
        raise CLIError(f'{args.config!r}: {err}') from None
    if args.out and not args.out.endswith(('.pkl', '.pickle')):
        raise CLIError(f'--out must name a .pkl file, got {args.out!r}')
    threads = args.threads or torch.get_num_threads()
    if args.backend is None:
        args.backend = DEFAULT_BACKEND.get(
            osp.splitext(args.model)[1].lower(), 'onnxruntime')
    try:
        runtime = load_runtime(args.model, args.backend, threads)
    except (ValueError, ImportError) as err:
        raise CLIError(str(err)) from None
    except Exception as err:  # the runtime cannot parse the file
        raise CLIError(f'{args.backend} cannot load {args.model!r}: '
                       f'{str(err).strip().splitlines()[0]}') from None
    task = runtime.metadata.get('task', 'classification')
    if kind == 'detection' and task != 'detection':
        raise CLIError(
            f'{args.model!r} is not an end-to-end detector (export it '
            f'from {args.config!r} with tools/deployment/pytorch2onnx.py)')
    if kind == 'classification' and task == 'detection':
        raise CLIError(f'{args.model!r} is a detector but {args.config!r} '
                       'is a classification config')
    fix_dataloaders(cfg)
    check_config(cfg)
    check_dataloader(cfg, 'test_dataloader')
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope
    session = DetectionSession(runtime) if kind == 'detection' else \
        ClassificationSession(runtime)
    loader = build_dataloader(cfg, 'test_dataloader')
    with DefaultScope.overwrite_default_scope(scope_of(cfg)):
        evaluator = Evaluator(cfg.test_evaluator)
        if args.out:
            from mmengine.evaluator import DumpResults
            evaluator.metrics.append(DumpResults(out_file_path=args.out))
    preprocessor = build_data_preprocessor(cfg)
    evaluator.dataset_meta = loader.dataset.metainfo
    start = time.perf_counter()
    seen = 0
    for data in loader:
        batch = preprocessor(data, False)
        samples = batch['data_samples']
        if kind == 'detection':
            detections_of(session, batch, samples)
        else:
            try:
                logits = session(batch['inputs'].float().numpy())
            except ValueError as err:
                raise CLIError(str(err)) from None
            scores = torch.from_numpy(logits).softmax(dim=1)
            for sample, score in zip(samples, scores):
                sample.set_pred_score(score).set_pred_label(score.argmax())
        evaluator.process(data_samples=samples, data_batch=data)
        seen += len(samples)
    metrics = evaluator.evaluate(len(loader.dataset))
    seconds = time.perf_counter() - start
    weights = runtime.metadata.get('precision', 'fp32')
    print(f'{seen} images in {seconds:.1f} s with {args.backend} '
          f'({runtime.precision}, {runtime.threads} thread(s); {weights} '
          'model)')
    print(format_metrics(metrics))


if __name__ == '__main__':
    run_cli(main)
