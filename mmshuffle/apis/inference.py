"""A classifier or a detector on decoded images, in PyTorch or from an
exported file, behind the config's own test pipeline and data
preprocessor (as ``tools/test.py`` feeds the model).

    predictor = Predictor(cfg, 'model.onnx', backend='onnxruntime')
    image = read_image('photo.jpg')              # mmshuffle.apis.images
    (result, ) = predictor([image], ['photo.jpg'])

A detection result is a list of ``dict(label, class_name, score, bbox)``
by descending score, boxes ``[x1, y1, x2, y2]`` in the file's pixels (the
upright image); a classification result the top-5 as ``dict(label,
class_name, score)``.
"""
import json
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from mmshuffle.engine.configs import (build_data_preprocessor, build_model,
                                      scope_of, task_of)

#: the backends a :class:`Predictor` runs
BACKENDS = ('pytorch', 'onnxruntime', 'openvino')


def test_pipeline(cfg):
    """The config's test pipeline for images decoded beforehand
    (:func:`mmshuffle.apis.images.read_image`): without its file loading
    and annotation steps, packing the image's path, sizes and scale."""
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope
    steps = []
    for step in cfg.test_dataloader.dataset.pipeline:
        step = dict(step)
        kind = str(step.get('type', '')).split('.')[-1]
        if kind.startswith('LoadImageFrom') or 'Annotation' in kind:
            continue
        if kind in ('PackDetInputs', 'PackInputs'):
            keys = set(step.get('meta_keys', ())) | {
                'img_path', 'ori_shape', 'img_shape', 'scale_factor'}
            step['meta_keys'] = tuple(sorted(keys))
        steps.append(step)
    with DefaultScope.overwrite_default_scope(scope_of(cfg)):
        return Compose(steps)


def class_names(cfg, meta: Dict) -> List[str]:
    """Class names: from the checkpoint's or the export's metadata, else
    the config's datasets (``metainfo.classes``, or mmpretrain's
    ``classes``)."""
    names = list(meta.get('classes') or [])
    if names:
        return names
    for field in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dataset = (cfg.get(field) or {}).get('dataset') or {}
        classes = (dataset.get('metainfo') or {}).get('classes') or \
            dataset.get('classes')
        if classes and not isinstance(classes, str):
            return list(classes)
    return []


def palette_of(cfg) -> Optional[List[tuple]]:
    """The colours of the config's dataset metainfo, if it has some."""
    for field in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(field) or {}).get('dataset') or {}
        palette = (dataset.get('metainfo') or {}).get('palette')
        if palette:
            return [tuple(c) for c in palette]
    return None


class Predictor:
    """The config's test pipeline and data preprocessor in front of a
    PyTorch checkpoint or an exported file (see the module docstring).

    Args:
        cfg (Config): a classification (mmpretrain) or detection (mmdet)
            config.
        weights (str): a checkpoint (``pytorch``) or an exported file.
        backend (str): one of :data:`BACKENDS`.
        threads (int): the runtime's threads (exported files).

    Raises:
        ValueError: the config's task and the file's differ, or the file
            cannot be loaded (the message says why).
    """

    def __init__(self, cfg, weights: str, backend: str = 'pytorch',
                 threads: int = 1):
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got '
                             f'{backend!r}')
        self.task = task_of(cfg)
        self.backend = backend
        self.pipeline = test_pipeline(cfg)
        self.to_float32 = any(
            str(s.get('type', '')).endswith('LoadImageFromFile') and
            s.get('to_float32') for s in cfg.test_dataloader.dataset.pipeline)
        self.preprocessor = build_data_preprocessor(cfg)
        if backend == 'pytorch':
            self.model = self._load_pytorch(cfg, weights)
            meta = self.model.dataset_meta or {}
            self.fixed_batch = None
        else:
            from mmshuffle.deploy.runtime import (ClassificationSession,
                                                  DetectionSession,
                                                  load_runtime)
            runtime = load_runtime(weights, backend, threads)
            task = runtime.metadata.get('task', 'classification')
            if task != self.task:
                raise ValueError(f'{weights!r} is a {task} model but the '
                                 f'config is a {self.task} config')
            self.session = DetectionSession(runtime) \
                if self.task == 'detection' else \
                ClassificationSession(runtime)
            self.fixed_batch = self.session.fixed_batch
            meta = dict(classes=json.loads(
                runtime.metadata.get('classes', '[]')))
        self.classes = class_names(cfg, meta)
        self.palette = palette_of(cfg)

    @staticmethod
    def _load_pytorch(cfg, weights):
        from mmengine.runner import load_checkpoint
        model = build_model(cfg, pretrained=False)
        try:
            checkpoint = load_checkpoint(model, weights, map_location='cpu',
                                         strict=True, logger='silent')
        except RuntimeError as err:
            raise ValueError(f'checkpoint {weights!r} does not fit the '
                             f'model of the config: {err}') from None
        model.dataset_meta = (checkpoint.get('meta') or {}).get(
            'dataset_meta') or {}
        return model.eval()

    def name(self, label) -> str:
        label = int(label)
        return self.classes[label] if 0 <= label < len(self.classes) \
            else f'class {label}'

    def prepare(self, image, path: str) -> Dict:
        """One decoded image (:class:`mmshuffle.apis.images.Image`) through
        the test pipeline."""
        img = image.bgr.astype(np.float32) if self.to_float32 else image.bgr
        height, width = img.shape[:2]
        return self.pipeline(dict(img=img, img_path=path, img_id=0,
                                  img_shape=(height, width),
                                  ori_shape=(height, width)))

    @torch.no_grad()
    def __call__(self, images: Sequence, paths: Sequence[str]) -> List:
        """The predictions of decoded ``images`` (one batch; an exported
        file of a fixed batch size runs them in pieces of it)."""
        data = [self.prepare(image, path)
                for image, path in zip(images, paths)]
        batch = dict(inputs=[d['inputs'] for d in data],
                     data_samples=[d['data_samples'] for d in data])
        if self.backend == 'pytorch':
            samples = self.model.test_step(batch)
            if self.task == 'detection':
                return [self._detections(
                    s.pred_instances.bboxes.numpy(),
                    s.pred_instances.scores.numpy(),
                    s.pred_instances.labels.numpy(), image.scale)
                    for s, image in zip(samples, images)]
            return [self._top5(s.pred_score) for s in samples]
        batch = self.preprocessor(batch, False)
        inputs = batch['inputs'].float().numpy()
        if self.task == 'detection':
            from mmshuffle.deploy.runtime import to_original_image
            dets, labels = self.session(
                inputs, [s.img_shape for s in batch['data_samples']])
            return [self._detections(*to_original_image(
                det, label, sample.img_shape,
                sample.metainfo.get('scale_factor')), image.scale)
                for det, label, sample, image in zip(
                    dets, labels, batch['data_samples'], images)]
        logits = torch.from_numpy(self.session(inputs))
        return [self._top5(row) for row in logits.softmax(dim=1)]

    def _detections(self, boxes, scores, labels, scale: float = 1.0):
        order = np.argsort(-scores, kind='stable')
        return [
            dict(label=int(labels[i]), class_name=self.name(labels[i]),
                 score=round(float(scores[i]), 5),
                 bbox=[round(float(v) / scale, 2) for v in boxes[i]])
            for i in order
        ]

    def _top5(self, scores):
        top = scores.topk(min(5, scores.numel()))
        return [
            dict(label=int(i), class_name=self.name(i),
                 score=round(float(s), 5))
            for s, i in zip(top.values, top.indices)
        ]
