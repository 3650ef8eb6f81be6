"""Run a classifier or a detector on your own images and look at the
result.

    python tools/infer.py CONFIG WEIGHTS INPUT [INPUT ...] [--out-dir DIR]
        [--backend pytorch|onnxruntime|openvino] [--threads N]
        [--score-thr 0.3]

INPUT: image files, folders (their images, not recursive) or glob patterns
(quote them). WEIGHTS: a checkpoint (``.pth``, run in PyTorch) or a model
exported by ``tools/deployment/pytorch2onnx.py`` (``.onnx``, or an OpenVINO
IR ``.xml``; run in onnxruntime or OpenVINO, f32). The backend defaults to
what WEIGHTS is. Each image goes through the config's test pipeline and
data preprocessor, as in ``tools/test.py``.

Writes into ``--out-dir`` (default ``work_dirs/infer``) one picture per
image (detection: the boxes scoring at least ``--score-thr`` with their
class names and scores; classification: the top-5 classes and scores) and
``predictions.json`` with every prediction (boxes in original-image
pixels, all detections of the model, whatever ``--score-thr``). A progress
bar shows on more than 5 images.
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys

import numpy as np
import torch

import mmshuffle  # noqa: F401  (registers models, transforms, safe loading)
from mmshuffle.engine.cli import CLIError, load_config, run_cli
from mmshuffle.engine.configs import (build_data_preprocessor, build_model,
                                      scope_of, task_of)
from mmshuffle.engine.fileio import atomic_write

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
BACKENDS = ('pytorch', 'onnxruntime', 'openvino')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('weights', help='checkpoint (.pth) or exported '
                        'model (.onnx, OpenVINO .xml)')
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help='images, folders or glob patterns')
    parser.add_argument('--out-dir', default='work_dirs/infer',
                        help='where pictures and predictions.json go')
    parser.add_argument('--backend', choices=BACKENDS,
                        help='default: pytorch for a .pth, onnxruntime for '
                        'a .onnx, openvino for a .xml')
    parser.add_argument('--threads', type=int, default=0,
                        help='runtime threads (0 = all cores)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: draw boxes scoring at least this')
    return parser.parse_args(argv)


def expand_inputs(inputs):
    """Image paths of files, folders and glob patterns, in order, without
    repeats."""
    paths = []
    for item in inputs:
        if osp.isdir(item):
            found = sorted(
                osp.join(item, f) for f in os.listdir(item)
                if f.lower().endswith(IMAGE_EXTS))
            if not found:
                raise CLIError(f'folder {item!r} holds no images '
                               f'({", ".join(IMAGE_EXTS)})')
        elif osp.isfile(item):
            found = [item]
        elif glob.has_magic(item):
            found = sorted(p for p in glob.glob(item)
                           if osp.isfile(p) and p.lower().endswith(
                               IMAGE_EXTS))
            if not found:
                raise CLIError(f'pattern {item!r} matches no image')
        else:
            raise CLIError(f'input {item!r} does not exist')
        paths += [p for p in found if p not in paths]
    return paths


def default_backend(weights):
    ext = osp.splitext(weights)[1].lower()
    return {'.onnx': 'onnxruntime', '.xml': 'openvino'}.get(ext, 'pytorch')


def class_names(cfg, meta):
    """Class names: from the checkpoint/export metadata, else the
    config's dataset metainfo."""
    names = list(meta.get('classes') or [])
    if names:
        return names
    for field in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dataset = (cfg.get(field) or {}).get('dataset') or {}
        # mmpretrain's datasets also take the names as `classes`
        classes = (dataset.get('metainfo') or {}).get('classes') or \
            dataset.get('classes')
        if classes and not isinstance(classes, str):
            return list(classes)
    return []


class Predictor:
    """The config's test pipeline and data preprocessor in front of a
    PyTorch model or an exported one."""

    def __init__(self, cfg, weights, backend, threads):
        from mmengine.dataset import Compose
        from mmengine.registry import DefaultScope
        try:
            self.task = task_of(cfg)
        except ValueError as err:
            raise CLIError(str(err)) from None
        self.backend = backend
        pipeline = [
            dict(step) for step in cfg.test_dataloader.dataset.pipeline
            if 'Annotation' not in str(step.get('type', ''))
        ]
        for step in pipeline:
            if step.get('type') in ('PackDetInputs', 'PackInputs'):
                keys = set(step.get('meta_keys', ())) | {
                    'img_path', 'ori_shape', 'img_shape', 'scale_factor'}
                step['meta_keys'] = tuple(sorted(keys))
        with DefaultScope.overwrite_default_scope(scope_of(cfg)):
            self.pipeline = Compose(pipeline)
        self.preprocessor = build_data_preprocessor(cfg)
        meta = {}
        if backend == 'pytorch':
            self.model = self._load_pytorch(cfg, weights)
            meta = self.model.dataset_meta or {}
        else:
            from mmshuffle.deploy.runtime import (ClassificationSession,
                                                  DetectionSession,
                                                  load_runtime)
            try:
                runtime = load_runtime(weights, backend, threads)
            except (ValueError, ImportError) as err:
                raise CLIError(str(err)) from None
            task = runtime.metadata.get('task', 'classification')
            if task != self.task:
                raise CLIError(f'{weights!r} is a {task} model but the '
                               f'config is a {self.task} config')
            self.session = DetectionSession(runtime) \
                if self.task == 'detection' else \
                ClassificationSession(runtime)
            meta = dict(classes=json.loads(
                runtime.metadata.get('classes', '[]')))
        self.classes = class_names(cfg, meta)
        palette = None
        for field in ('test_dataloader', 'val_dataloader'):
            dataset = (cfg.get(field) or {}).get('dataset') or {}
            palette = palette or (dataset.get('metainfo') or {}).get(
                'palette')
        self.palette = [tuple(c) for c in palette] if palette else None

    def _load_pytorch(self, cfg, weights):
        from mmengine.runner import load_checkpoint
        model = build_model(cfg, pretrained=False)
        try:
            checkpoint = load_checkpoint(model, weights, map_location='cpu',
                                         strict=True, logger='silent')
        except RuntimeError as err:
            raise CLIError(f'checkpoint {weights!r} does not fit the model '
                           f'of the config: {err}') from None
        meta = (checkpoint.get('meta') or {}).get('dataset_meta') or {}
        model.dataset_meta = meta
        return model.eval()

    def name(self, label):
        label = int(label)
        return self.classes[label] if 0 <= label < len(self.classes) \
            else f'class {label}'

    @torch.no_grad()
    def __call__(self, path):
        data = self.pipeline(dict(img_path=path, img_id=0))
        batch = dict(inputs=[data['inputs']],
                     data_samples=[data['data_samples']])
        if self.backend == 'pytorch':
            sample = self.model.test_step(batch)[0]
            if self.task == 'detection':
                pred = sample.pred_instances
                return self._detections(pred.bboxes.numpy(),
                                        pred.scores.numpy(),
                                        pred.labels.numpy())
            return self._top5(sample.pred_score)
        batch = self.preprocessor(batch, False)
        inputs = batch['inputs'].float().numpy()
        sample = batch['data_samples'][0]
        try:
            outputs = self.session(inputs)
        except ValueError as err:
            raise CLIError(str(err)) from None
        if self.task == 'detection':
            from mmshuffle.deploy.runtime import to_original_image
            dets, labels = outputs
            return self._detections(*to_original_image(
                dets[0], labels[0], sample.img_shape,
                sample.metainfo.get('scale_factor')))
        return self._top5(torch.from_numpy(outputs).softmax(dim=1)[0])

    def _detections(self, boxes, scores, labels):
        order = np.argsort(-scores, kind='stable')
        return [
            dict(label=int(labels[i]), class_name=self.name(labels[i]),
                 score=round(float(scores[i]), 5),
                 bbox=[round(float(v), 2) for v in boxes[i]])
            for i in order
        ]

    def _top5(self, scores):
        top = scores.topk(min(5, scores.numel()))
        return [
            dict(label=int(i), class_name=self.name(i),
                 score=round(float(s), 5))
            for s, i in zip(top.values, top.indices)
        ]


def _font(size):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def draw(path, predictions, task, score_thr, palette, out_path):
    """The image with its predictions drawn on it, saved to
    ``out_path`` (PNG)."""
    import io

    from PIL import Image, ImageDraw
    image = Image.open(path).convert('RGB')
    canvas = ImageDraw.Draw(image)
    size = max(12, min(image.size) // 28)
    font = _font(size)
    if task == 'detection':
        width = max(2, min(image.size) // 160)
        for det in reversed(predictions):  # the best drawn last, on top
            if det['score'] < score_thr:
                continue
            color = palette[det['label'] % len(palette)] if palette else \
                (255, 64, 64)
            x1, y1, x2, y2 = det['bbox']
            canvas.rectangle([x1, y1, x2, y2], outline=color, width=width)
            text = f'{det["class_name"]} {det["score"]:.2f}'
            left, top, right, bottom = canvas.textbbox((0, 0), text,
                                                       font=font)
            ty = y1 - (bottom - top) - 4 if y1 - (bottom - top) - 4 >= 0 \
                else y1
            canvas.rectangle([x1, ty, x1 + right - left + 4,
                              ty + bottom - top + 4], fill=color)
            canvas.text((x1 + 2, ty + 2 - top), text, fill=(255, 255, 255),
                        font=font)
    else:
        lines = [f'{p["class_name"]} {p["score"]:.3f}' for p in predictions]
        boxes = [canvas.textbbox((0, 0), ln, font=font) for ln in lines]
        line_h = max(b[3] - b[1] for b in boxes) + 4
        panel_w = max(b[2] - b[0] for b in boxes) + 8
        overlay = Image.new('RGBA', image.size, (0, 0, 0, 0))
        ImageDraw.Draw(overlay).rectangle(
            [0, 0, panel_w, line_h * len(lines) + 4], fill=(0, 0, 0, 160))
        image = Image.alpha_composite(image.convert('RGBA'),
                                      overlay).convert('RGB')
        canvas = ImageDraw.Draw(image)
        for i, (line, box) in enumerate(zip(lines, boxes)):
            canvas.text((4, 4 + i * line_h - box[1]), line,
                        fill=(255, 255, 255) if i else (255, 220, 0),
                        font=font)
    buffer = io.BytesIO()
    image.save(buffer, format='PNG')
    atomic_write(buffer.getvalue(), out_path)


def output_names(paths):
    """A distinct ``<stem>.png`` per input (a numeric suffix for clashes
    between folders)."""
    names, seen = [], {}
    for path in paths:
        stem = osp.splitext(osp.basename(path))[0]
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        names.append(f'{stem}.png' if count == 0 else f'{stem}_{count}.png')
    return names


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.weights):
        raise CLIError(f'weights {args.weights!r} do not exist')
    if args.threads < 0:
        raise CLIError(f'--threads must be >= 0, got {args.threads}')
    if not 0 <= args.score_thr <= 1:
        raise CLIError(f'--score-thr must be in [0, 1], got '
                       f'{args.score_thr}')
    backend = args.backend or default_backend(args.weights)
    ext = osp.splitext(args.weights)[1].lower()
    if backend == 'pytorch' and ext in ('.onnx', '.xml'):
        raise CLIError(f'--backend pytorch needs a checkpoint, got the '
                       f'exported model {args.weights!r}')
    if backend != 'pytorch' and ext not in ('.onnx', '.xml'):
        raise CLIError(f'--backend {backend} needs an exported model '
                       f'(.onnx{", .xml" if backend == "openvino" else ""}'
                       f'), got {args.weights!r}')
    paths = expand_inputs(args.inputs)
    cfg = load_config(args.config, None)
    threads = args.threads or torch.get_num_threads()
    if backend == 'pytorch':
        torch.set_num_threads(threads)
    predictor = Predictor(cfg, args.weights, backend, threads)
    names = output_names(paths)
    progress = None
    if len(paths) > 5:
        from mmengine.utils import ProgressBar
        progress = ProgressBar(len(paths), file=sys.stderr)
    records = []
    for path, name in zip(paths, names):
        try:
            predictions = predictor(path)
        except (OSError, ValueError) as err:
            raise CLIError(f'cannot run on {path!r}: {err}') from None
        out_path = osp.join(args.out_dir, name)
        draw(path, predictions, predictor.task, args.score_thr,
             predictor.palette, out_path)
        key = 'detections' if predictor.task == 'detection' else 'top5'
        records.append({'image': path, 'picture': out_path,
                        key: predictions})
        if progress is not None:
            progress.update()
    if progress is not None:
        sys.stderr.write('\n')
    summary = dict(config=args.config, weights=args.weights,
                   backend=backend, task=predictor.task,
                   classes=predictor.classes, predictions=records)
    json_path = osp.join(args.out_dir, 'predictions.json')
    atomic_write(json.dumps(summary, indent=1).encode(), json_path)
    for record in records:
        if predictor.task == 'detection':
            shown = [d for d in record['detections']
                     if d['score'] >= args.score_thr]
            text = ', '.join(f'{d["class_name"]} {d["score"]:.2f}'
                             for d in shown[:5]) or 'nothing'
            text = f'{len(shown)} box(es): {text}'
        else:
            best = record['top5'][0]
            text = f'{best["class_name"]} {best["score"]:.3f}'
        if len(records) <= 20:
            print(f'{record["image"]}: {text}')
    print(f'{len(records)} image(s) with {backend}: pictures and '
          f'predictions.json in {args.out_dir}')


if __name__ == '__main__':
    run_cli(main)
