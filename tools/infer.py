"""Run a classifier or a detector on your own images and look at the
result.

    python tools/infer.py CONFIG WEIGHTS INPUT [INPUT ...] [--out-dir DIR]
        [--backend pytorch|onnxruntime|openvino|executorch|ncnn]
        [--threads N]
        [--score-thr 0.3] [--batch 1] [--max-pixels 100000000]

INPUT: image files, folders (their images, not recursive) or glob patterns
(quote them). WEIGHTS: a checkpoint (``.pth``, run in PyTorch) or a model
exported by ``tools/deployment/export.py`` (``.onnx``, or an OpenVINO
IR ``.xml``; run in onnxruntime or OpenVINO, f32; an ExecuTorch ``.pte``
program, run in ExecuTorch with XNNPACK; or an ncnn ``.param`` graph, its
``.bin`` and ``.json`` beside it). The backend defaults to
what WEIGHTS is. Each image is decoded once
(:func:`mmshuffle.apis.images.read_image`: EXIF orientation applied,
grayscale, transparency, CMYK and 16-bit files turned into 8-bit RGB, large
JPEGs decoded smaller) and goes through the config's test pipeline and data
preprocessor, as in ``tools/test.py``; ``--batch N`` runs N images per call.

Writes into ``--out-dir`` (default ``work_dirs/infer``) one picture per
image (detection: the boxes scoring at least ``--score-thr`` with their
class names and scores; classification: the top-5 classes and scores) and
every prediction (boxes in the file's pixels, upright, all detections of
the model whatever ``--score-thr``): ``predictions.jsonl`` gets a line per
image as soon as it is done (a crash or Ctrl-C keeps them),
``predictions.json`` all of them at the end. A file that cannot be read is
named on one line and skipped; the exit status is then 1, after everything
else was written. A progress bar shows on more than 5 images.
"""
import argparse
import os.path as osp
import sys

import torch

import mmshuffle  # noqa: F401  (registers models, transforms, safe loading)
from mmshuffle.apis.images import MAX_PIXELS, ImageReadError, read_image
from mmshuffle.apis.inference import BACKENDS, Predictor
from mmshuffle.apis.visualize import draw
from mmshuffle.deploy.standalone import (Record, expand_inputs, finish,
                                         interrupted, output_names,
                                         save_picture)
from mmshuffle.engine.cli import CLIError, load_config, run_cli
from mmshuffle.engine.configs import task_of


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('weights', help='checkpoint (.pth) or exported '
                        'model (.onnx, OpenVINO .xml, ExecuTorch .pte, ncnn '
                        '.param)')
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help='images, folders or glob patterns')
    parser.add_argument('--out-dir', default='work_dirs/infer',
                        help='where pictures and predictions go')
    parser.add_argument('--backend', choices=BACKENDS,
                        help='default: pytorch for a .pth, onnxruntime for '
                        'a .onnx, openvino for a .xml, executorch for a .pte, '
                        'ncnn for a .param')
    parser.add_argument('--threads', type=int, default=0,
                        help='runtime threads (0 = all cores)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: draw boxes scoring at least this')
    parser.add_argument('--batch', type=int, default=1,
                        help='images per call (an exported file of a fixed '
                        'batch size runs them in pieces of it)')
    parser.add_argument('--max-pixels', type=int, default=MAX_PIXELS,
                        help='larger images are decoded smaller (JPEG) or '
                        'skipped (default 100 megapixels)')
    return parser.parse_args(argv)


def default_backend(weights):
    from mmshuffle.deploy.runtime import DEFAULT_BACKEND
    ext = osp.splitext(weights)[1].lower()
    return DEFAULT_BACKEND.get(ext, 'pytorch')


def check_args(args):
    if not osp.isfile(args.weights):
        raise CLIError(f'weights {args.weights!r} do not exist')
    if args.threads < 0:
        raise CLIError(f'--threads must be >= 0, got {args.threads}')
    if not 0 <= args.score_thr <= 1:
        raise CLIError(f'--score-thr must be in [0, 1], got '
                       f'{args.score_thr}')
    if args.batch < 1:
        raise CLIError(f'--batch must be >= 1, got {args.batch}')
    if args.max_pixels < 1:
        raise CLIError(f'--max-pixels must be >= 1, got {args.max_pixels}')
    backend = args.backend or default_backend(args.weights)
    ext = osp.splitext(args.weights)[1].lower()
    from mmshuffle.deploy.runtime import EXTENSIONS
    if backend == 'pytorch' and ext in ('.onnx', '.xml', '.pte'):
        raise CLIError(f'--backend pytorch needs a checkpoint, got the '
                       f'exported model {args.weights!r}')
    if backend != 'pytorch' and ext not in EXTENSIONS[backend]:
        raise CLIError(f'--backend {backend} needs an exported model '
                       f'({", ".join(EXTENSIONS[backend])}), got '
                       f'{args.weights!r}')
    return backend


def run_batch(predictor, chunk, args, record, say):
    """Decode, predict, draw and record one batch of ``(path, picture
    name)``; an unreadable file is recorded as an error and ``say``-d."""
    images, paths, names = [], [], []
    for path, name in chunk:
        try:
            images.append(read_image(path, args.max_pixels))
            paths.append(path)
            names.append(name)
        except ImageReadError as err:
            say(f'error: {err}')
            record.add({'image': path, 'error': str(err)})
    if not images:
        return
    try:
        results = predictor(images, paths)
    except ValueError as err:  # e.g. a size the exported file refuses
        raise CLIError(str(err)) from None
    for path, name, image, predictions in zip(paths, names, images,
                                              results):
        picture = osp.join(args.out_dir, name)
        save_picture(draw(image.rgb, predictions, predictor.task,
                          args.score_thr, predictor.palette, image.scale),
                     picture)
        record.add_result(path, picture, image, predictor.task, predictions)


def main(argv=None):
    args = parse_args(argv)
    backend = check_args(args)
    try:
        paths = expand_inputs(args.inputs)
    except ValueError as err:
        raise CLIError(str(err)) from None
    cfg = load_config(args.config, None)
    try:
        task_of(cfg)
    except ValueError as err:
        raise CLIError(str(err)) from None
    threads = args.threads or torch.get_num_threads()
    if backend == 'pytorch':
        torch.set_num_threads(threads)
    try:
        predictor = Predictor(cfg, args.weights, backend, threads)
    except (ValueError, ImportError) as err:
        raise CLIError(str(err)) from None
    record = Record(args.out_dir, dict(
        config=args.config, weights=args.weights, backend=backend,
        task=predictor.task, classes=predictor.classes))
    progress = None
    if len(paths) > 5:
        from mmengine.utils import ProgressBar
        progress = ProgressBar(len(paths), file=sys.stderr)
    todo = list(zip(paths, output_names(paths)))

    def say(line):  # on a line of its own, under the progress bar
        print(('\n' if progress is not None else '') + line,
              file=sys.stderr, flush=True)

    try:
        for start in range(0, len(todo), args.batch):
            chunk = todo[start:start + args.batch]
            run_batch(predictor, chunk, args, record, say)
            if progress is not None:
                for _ in chunk:
                    progress.update()
    except KeyboardInterrupt:
        interrupted(record, len(paths))
    if progress is not None:
        sys.stderr.write('\n')
    finish(record, predictor.task, args.score_thr, backend)


if __name__ == '__main__':
    run_cli(main)
