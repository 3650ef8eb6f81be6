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
from typing import Dict, List, Sequence

import torch

from mmshuffle.deploy.standalone import (detection_records, softmax,
                                        to_original_image, top5_records)
from mmshuffle.engine.configs import (build_data_preprocessor, build_model,
                                      class_names, loads_float32, palette_of,
                                      prepare_image, task_of, test_pipeline)

__all__ = ['BACKENDS', 'Predictor', 'test_pipeline', 'prepare_image']

#: the backends a :class:`Predictor` runs
BACKENDS = ('pytorch', 'onnxruntime', 'openvino', 'executorch', 'ncnn')


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
        self.to_float32 = loads_float32(cfg)
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

    def prepare(self, image, path: str) -> Dict:
        """One decoded image (:class:`mmshuffle.apis.images.Image`) through
        the test pipeline."""
        return prepare_image(self.pipeline, image, path, self.to_float32)

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
                return [detection_records(
                    s.pred_instances.bboxes.numpy(),
                    s.pred_instances.scores.numpy(),
                    s.pred_instances.labels.numpy(), self.classes,
                    image.scale) for s, image in zip(samples, images)]
            return [top5_records(s.pred_score.numpy(), self.classes)
                    for s in samples]
        batch = self.preprocessor(batch, False)
        inputs = batch['inputs'].float().numpy()
        if self.task == 'detection':
            dets, labels = self.session(
                inputs, [s.img_shape for s in batch['data_samples']])
            return [detection_records(*to_original_image(
                det, label, sample.img_shape,
                sample.metainfo.get('scale_factor')), self.classes,
                image.scale) for det, label, sample, image in zip(
                    dets, labels, batch['data_samples'], images)]
        return [top5_records(row, self.classes)
                for row in softmax(self.session(inputs))]
