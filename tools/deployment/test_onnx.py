"""Evaluate an exported ONNX classifier in onnxruntime on a config's test
set, with the config's own data pipeline and evaluator.

    python tools/deployment/test_onnx.py CONFIG MODEL.onnx [--threads N]
        [--out FILE.pkl] [--cfg-options KEY=VALUE ...]

The images go through the config's test pipeline and ``data_preprocessor``
(the same normalised tensors ``tools/test.py`` feeds PyTorch), the scores
come from onnxruntime, and the config's ``test_evaluator`` computes the
metrics, printed like ``tools/test.py`` does (``metrics {json}``). Export
the classifier with ``--dynamic-batch`` to evaluate in batches; a file
exported for batch 1 is run one image at a time.
"""
import argparse
import json
import os.path as osp
import time

import torch
from mmengine.config import DictAction
from mmengine.registry import DefaultScope

import mmshuffle  # noqa: F401  (registers transforms and loaders)
from mmshuffle.datasets.checks import check_dataloader
from mmshuffle.deploy.onnx import ort_session
from mmshuffle.engine.cli import (CLIError, fix_dataloaders, load_config,
                                  run_cli)
from mmshuffle.engine.config_checks import check_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('model', help='the .onnx file of the classifier')
    parser.add_argument('--threads', type=int, default=0,
                        help='onnxruntime threads (0 = all cores)')
    parser.add_argument(
        '--out', help='dump the predictions to this pickle file (.pkl), '
        'in the format of tools/test.py --out')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
        help='override config settings')
    return parser.parse_args(argv)


def run_session(session, inputs: torch.Tensor) -> torch.Tensor:
    meta = session.get_inputs()[0]
    if tuple(inputs.shape[2:]) != tuple(meta.shape[2:]):
        raise CLIError(
            f'the test pipeline gives {tuple(inputs.shape[2:])} images but '
            f'the ONNX model was exported for {tuple(meta.shape[2:])}: '
            'export it with --shape matching the test pipeline')
    batches = [inputs] if not isinstance(meta.shape[0], int) or \
        meta.shape[0] == inputs.shape[0] else inputs.split(meta.shape[0])
    outputs = [
        torch.from_numpy(session.run(None, {meta.name: b.numpy()})[0])
        for b in batches
    ]
    return torch.cat(outputs)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.model):
        raise CLIError(f'ONNX model {args.model!r} does not exist')
    if args.threads < 0:
        raise CLIError(f'--threads must be >= 0, got {args.threads}')
    cfg = load_config(args.config, args.cfg_options)
    scope = cfg.get('default_scope', 'mmpretrain')
    if scope != 'mmpretrain':
        raise CLIError(f'{args.config!r} is not a classification config '
                       f'(default_scope {scope!r}); this tool evaluates '
                       'classifiers')
    fix_dataloaders(cfg)
    check_config(cfg)
    check_dataloader(cfg, 'test_dataloader')
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner
    from mmpretrain.registry import MODELS
    threads = args.threads or torch.get_num_threads()
    session = ort_session(args.model, threads)
    with DefaultScope.overwrite_default_scope(scope):
        loader = Runner.build_dataloader(cfg.test_dataloader)
        evaluator = Evaluator(cfg.test_evaluator)
        if args.out:
            if not args.out.endswith(('.pkl', '.pickle')):
                raise CLIError(f'--out must name a .pkl file, got '
                               f'{args.out!r}')
            from mmengine.evaluator import DumpResults
            evaluator.metrics.append(DumpResults(out_file_path=args.out))
        # what the Runner gives the classifier: model.data_preprocessor,
        # else the config's top-level data_preprocessor
        preprocess_cfg = dict(cfg.model.get('data_preprocessor') or
                              cfg.get('data_preprocessor') or {})
        preprocess_cfg.setdefault('type', 'ClsDataPreprocessor')
        preprocessor = MODELS.build(preprocess_cfg)
    evaluator.dataset_meta = loader.dataset.metainfo
    start = time.perf_counter()
    seen = 0
    for data in loader:
        batch = preprocessor(data, False)
        logits = run_session(session, batch['inputs'].float())
        scores = logits.softmax(dim=1)
        samples = batch['data_samples']
        for sample, score in zip(samples, scores):
            sample.set_pred_score(score).set_pred_label(score.argmax())
        evaluator.process(data_samples=samples, data_batch=data)
        seen += len(samples)
    metrics = evaluator.evaluate(len(loader.dataset))
    seconds = time.perf_counter() - start
    print(f'{seen} images in {seconds:.1f} s with onnxruntime '
          f'({threads} thread(s))')
    print('metrics ' + json.dumps({
        k: round(float(v), 4) if isinstance(v, (int, float)) else str(v)
        for k, v in metrics.items()
    }))


if __name__ == '__main__':
    run_cli(main)
