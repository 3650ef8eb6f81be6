"""ONNX export of mmshuffle classifiers and backbones, checked in
onnxruntime.

The graph is exported by torch's ``torch.export``-based ONNX exporter
(``onnxscript``) from the deploy form (BatchNorm folded). ``channel_shuffle``
becomes plain ``Reshape``/``Transpose`` nodes: the exported file uses only
the standard ONNX operator set, so any ONNX runtime can run it.

onnx, onnxscript and onnxruntime are optional dependencies
(``pip install mmshuffle[onnx]``); ``make test`` installs them.
"""
import contextlib
import io
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from mmshuffle.engine.fileio import atomic_write

from .fuse import switch_to_deploy

#: the only operator domain an exported graph may use ('' = standard ONNX)
STANDARD_DOMAINS = ('', 'ai.onnx')


class ClassifierForExport(nn.Module):
    """An mmpretrain ``ImageClassifier`` as ``image tensor -> logits``.

    The input is the normalised ``(N, 3, H, W)`` float tensor that the
    classifier's data preprocessor produces (mean/std of the config's
    ``data_preprocessor``, RGB order), the output the class scores before
    softmax.
    """

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x, mode='tensor')

    def metadata(self) -> Dict[str, str]:
        """What a runtime needs to feed the graph and read its output
        (:mod:`mmshuffle.deploy.metadata`; the exporter adds the config's
        pipeline, classes and names)."""
        import json

        from .metadata import preprocessor_metadata
        pre = self.classifier.data_preprocessor
        meta = getattr(self.classifier, 'dataset_meta', None) or {}
        return {
            'task': 'classification',
            'raw_input': 'false',
            **preprocessor_metadata(pre),
            'size_divisor': str(int(getattr(pre, 'pad_size_divisor', 1))),
            'classes': json.dumps(list(meta.get('classes', ()))),
            'outputs': json.dumps({
                'logits': 'N x C float32: class scores before softmax'}),
        }


class BackboneForExport(nn.Module):
    """A backbone as ``image tensor -> (feature_0, feature_1, ...)``, the
    maps selected by its ``out_indices``."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(self.backbone(x))


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as err:
        raise ImportError(
            f'{module} is needed for ONNX export and checking; install the '
            'optional dependencies with `pip install onnx onnxscript '
            'onnxruntime` (or `pip install mmshuffle[onnx]`)') from err


def check_shape(shape: Sequence[int]) -> Tuple[int, int]:
    """Validate an ``(H, W)`` input size."""
    shape = tuple(shape)
    if len(shape) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 32
            for v in shape):
        raise ValueError('shape must be (H, W) with integer sizes >= 32 '
                         f'(the networks downsample by 32), but got {shape!r}')
    return shape


def check_opset(opset, lowest: int = 17) -> int:
    """Validate an ONNX opset number in ``[lowest, 23]``."""
    if not isinstance(opset, int) or isinstance(opset, bool) or not \
            lowest <= opset <= 23:
        raise ValueError(f'opset must be an int in [{lowest}, 23], got '
                         f'{opset!r}')
    return opset


def export_program(module: nn.Module,
                   example,
                   path: str,
                   output_names: Sequence[str],
                   opset: int,
                   dynamic_shapes=None,
                   translations: Optional[Dict] = None,
                   metadata: Optional[Dict[str, str]] = None,
                   input_names: Sequence[str] = ('input', )) -> str:
    """Export ``module`` called on ``example`` (a tensor, or a tuple of
    them named ``input_names``) with torch's ``torch.export``-based
    exporter, optimise the graph,
    check that it uses only the standard ONNX domain, write ``metadata``
    (:mod:`mmshuffle.deploy.metadata`) and save it to ``path`` atomically
    (:func:`~mmshuffle.engine.fileio.atomic_write`: a temporary file,
    fsynced and renamed into place, with the mode a plain ``open()``
    gives).

    Raises:
        ValueError: the graph uses an operator outside the standard ONNX
            domain.
    """
    _require('onnx')
    _require('onnxscript')
    import onnx

    from .metadata import set_metadata
    examples = example if isinstance(example, tuple) else (example, )
    with contextlib.redirect_stdout(io.StringIO()):  # exporter's progress
        program = torch.onnx.export(
            module, examples,
            dynamo=True,
            input_names=list(input_names),
            output_names=list(output_names),
            opset_version=opset,
            dynamic_shapes=dynamic_shapes,
            custom_translation_table=translations,
            verbose=False)
        program.optimize()
    proto = program.model_proto
    foreign = sorted({
        f'{node.domain}::{node.op_type}'
        for node in proto.graph.node if node.domain not in STANDARD_DOMAINS
    })
    if foreign:
        raise ValueError('the exported graph uses operators outside the '
                         f'standard ONNX domain: {foreign}')
    if metadata:
        set_metadata(proto, metadata)
    onnx.checker.check_model(proto)
    atomic_write(proto.SerializeToString(), path)
    return path


def export_onnx(model: nn.Module,
                path: str,
                shape: Sequence[int] = (224, 224),
                dynamic_batch: bool = False,
                opset: int = 18,
                output_names: Sequence[str] = ('output', ),
                metadata: Optional[Dict[str, str]] = None) -> str:
    """Export ``model`` (taking one image tensor) to ``path``
    (:func:`export_program`), with the model's own ``metadata()``
    (:class:`ClassifierForExport`) updated with ``metadata``.

    The model is switched to its deploy form first (in place) and exported
    for a ``(1, 3, H, W)`` input (any batch size with ``dynamic_batch``).

    Raises:
        ValueError: bad ``shape`` or ``opset``, or the exported graph uses
            an operator outside the standard ONNX domain.
    """
    _require('onnx')
    _require('onnxscript')
    shape = check_shape(shape)
    check_opset(opset)
    switch_to_deploy(model)
    from mmshuffle.models.backbones.base import MobileBackbone
    in_channels = next((m.in_channels for m in model.modules()
                        if isinstance(m, MobileBackbone)), 3)
    example = torch.randn(1, in_channels, *shape)
    dynamic_shapes = ({0: torch.export.Dim('batch', min=1, max=4096)}, ) \
        if dynamic_batch else None
    meta = dict(model.metadata()) if hasattr(model, 'metadata') else {}
    meta.update(metadata or {})
    return export_program(model, example, path, output_names, opset,
                          dynamic_shapes, metadata=meta)


def ort_session(path: str, threads: int = 1,
                profile_prefix: Optional[str] = None):
    """An onnxruntime CPU session with all graph optimisations and
    ``threads`` intra-op threads; with ``profile_prefix``, onnxruntime's
    profiler writes its trace there (``session.end_profiling()``)."""
    ort = _require('onnxruntime')
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = \
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(
        path, options, providers=['CPUExecutionProvider'])


@torch.no_grad()
def compare_with_onnxruntime(model: nn.Module, path: str,
                             batch_sizes: Sequence[int] = (1, ),
                             seed: int = 0) -> List[Dict]:
    """Run ``model`` and the ONNX file on the same random inputs.

    Returns:
        list[dict]: one ``dict(batch, max_abs_diff)`` per batch size (the
        largest difference over all outputs).
    """
    session = ort_session(path)
    inp = session.get_inputs()[0]
    _, channels, height, width = inp.shape
    gen = torch.Generator().manual_seed(seed)
    results = []
    model.eval()
    for batch in batch_sizes:
        x = torch.randn(batch, channels, height, width, generator=gen)
        expected = model(x)
        if isinstance(expected, torch.Tensor):
            expected = (expected, )
        outputs = session.run(None, {inp.name: x.numpy()})
        if len(outputs) != len(expected):
            raise ValueError(f'{path!r} returns {len(outputs)} outputs, the '
                             f'model {len(expected)}')
        diff = max((torch.from_numpy(o) - e).abs().max().item()
                   for o, e in zip(outputs, expected))
        results.append(dict(batch=batch, max_abs_diff=diff))
    return results
