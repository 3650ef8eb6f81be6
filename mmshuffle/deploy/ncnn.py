"""ncnn models (``.param`` + ``.bin``) through pnnx: fp32, or fp16 storage.

ncnn is Tencent's inference library for phones (Android, iOS) and small
CPUs; pnnx is the converter its maintainers recommend (TorchScript ->
ncnn, in place of onnx2ncnn). :func:`write_ncnn` traces a module
(``torch.jit.trace``), runs the ``pnnx`` executable of the pnnx package on
it and moves three files into place: ``NAME.param`` (the graph),
``NAME.bin`` (the weights) and ``NAME.json`` (the mmshuffle metadata,
:mod:`mmshuffle.deploy.metadata`: ncnn files carry none themselves).

ncnn has no batch axis: :class:`NcnnProgram` runs a batch image by image.
Its input is ``in0`` and its outputs ``out0, out1, ...`` (pnnx's names),
in the order of the module's outputs. Convolutional networks run at any
input size; a classifier is exported at one (its flatten is fixed).

A detector's model is its network alone (image -> the head's maps, level by
level; :class:`~.detection.DetectorForExport` with ``decode='host'``): box
decoding, the per-level top ``nms_pre``, the score threshold and NMS run on
the host in numpy (:func:`.detection.host.host_candidates`,
:func:`.detection.host.host_nms`), as NanoDet's ncnn demo does, since ncnn
has neither top-K nor NMS layers.

Precision: the parity check runs fp32 (weights stored fp32, fp16 storage
and arithmetic off). ``fp16=True`` stores the weights in fp16 and turns
ncnn's fp16 storage and arithmetic on (ncnn's own default; on CPUs without
fp16 arithmetic ncnn computes in fp32 from fp16 storage). ncnn's INT8 needs
its ``ncnn2table``/``ncnn2int8`` tools, which the pip packages do not ship.
"""
import json
import os
import os.path as osp
import subprocess
import tempfile
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

#: the pip requirements ncnn export and inference are tested with here
PIP_NAMES = 'ncnn==1.0.20261020 pnnx==20261020'


class NcnnExportError(ValueError):
    """A module pnnx or ncnn cannot take."""


def _one_line(text: str, limit: int = 300) -> str:
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit] + '...'


def require_ncnn():
    """The ``ncnn`` package, or an ``ImportError`` naming the pip package
    to install."""
    try:
        import ncnn
    except ImportError as err:
        raise ImportError(
            'the ncnn format/backend needs the ncnn package (and pnnx to '
            f'export); install them with `pip install {PIP_NAMES}`') \
            from err
    return ncnn


def require_pnnx() -> str:
    """The path of the ``pnnx`` executable, or an ``ImportError`` naming
    the pip package to install."""
    try:
        import pnnx
    except ImportError as err:
        raise ImportError(
            'exporting to ncnn needs the pnnx package; install it with '
            f'`pip install {PIP_NAMES}`') from err
    return pnnx.EXEC_PATH


def sidecars(path: str):
    """The weights and the metadata files of the ncnn graph ``path``
    (``NAME.param`` -> ``NAME.bin``, ``NAME.json``)."""
    if not path.endswith('.param'):
        raise ValueError(f'an ncnn model is named by its .param file, got '
                         f'{path!r}')
    base = path[:-len('.param')]
    return base + '.bin', base + '.json'


def unknown_layers(param_text: str) -> List[str]:
    """The layer types of an ncnn ``.param`` text that ncnn does not
    have (the operators pnnx left unconverted, e.g. ``torch.topk``)."""
    ncnn = require_ncnn()
    lines = param_text.splitlines()[2:]
    types = sorted({line.split()[0] for line in lines if line.strip()})
    return [t for t in types if ncnn.layer_to_index(t) < 0]


def write_ncnn(module: nn.Module, example: torch.Tensor, path: str,
               metadata: Dict[str, str], where: str,
               fp16: bool = False,
               other_shape: Optional[Sequence[int]] = None) -> str:
    """Convert ``module`` (eval mode) traced on ``example`` (1, 3, H, W)
    to the ncnn model ``path`` (a ``.param`` file; ``.bin`` and ``.json``
    beside it). Nothing is replaced until pnnx succeeded and the graph
    passed the layer check, so a failed export leaves what was there; the
    three files are then moved into place one after the other, the graph
    last. ``fp16``: weights stored in
    fp16, and the runtime turns ncnn's fp16 paths on. ``where`` names the
    model in errors. ``other_shape``: a second input size (N, C, H, W) at
    which pnnx runs the graph too, to find the sizes that vary with the
    input (an upsampling to another map's size, say); without it every
    size is fixed at ``example``'s.

    Raises:
        NcnnExportError: tracing or pnnx fails, or the graph has operators
            ncnn has no layer for (one line naming them).
    """
    require_ncnn()
    executable = require_pnnx()
    bin_path, json_path = sidecars(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    meta = dict(metadata, runtime='ncnn', ncnn_fp16=json.dumps(bool(fp16)))
    if fp16:
        meta['precision'] = 'fp16'
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        traced = osp.join(tmp, 'model.pt')
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter('ignore')
                torch.jit.trace(module.eval(), example,
                                check_trace=False).save(traced)
        except Exception as err:  # noqa: BLE001  (one line)
            raise NcnnExportError(f'{where}: torch.jit.trace cannot capture '
                                  f'it for pnnx: {_one_line(err)}') from None
        shape = ','.join(str(v) for v in example.shape)
        out = {k: osp.join(tmp, f'model.{k}') for k in ('param', 'bin')}
        command = [executable, traced, f'inputshape=[{shape}]f32',
                   *([f'inputshape2=[{",".join(map(str, other_shape))}]f32']
                     if other_shape else []),
                   f'fp16={int(bool(fp16))}', f'ncnnparam={out["param"]}',
                   f'ncnnbin={out["bin"]}',
                   f'ncnnpy={osp.join(tmp, "model_ncnn.py")}']
        for key in ('pnnxparam', 'pnnxbin', 'pnnxpy', 'pnnxonnx'):
            command.append(f'{key}={osp.join(tmp, "pnnx." + key)}')
        result = subprocess.run(command, cwd=tmp, capture_output=True,
                                text=True)
        if result.returncode != 0 or not osp.isfile(out['param']):
            tail = (result.stderr or result.stdout).strip().splitlines()
            raise NcnnExportError(
                f'{where}: pnnx cannot convert it for ncnn (exit '
                f'{result.returncode}: {_one_line(tail[-1] if tail else "")})')
        with open(out['param']) as f:
            missing = unknown_layers(f.read())
        if missing:
            raise NcnnExportError(
                f'{where}: ncnn has no layer for {", ".join(missing)} (the '
                'operators pnnx left unconverted); export it to onnx or '
                'executorch instead')
        meta_tmp = osp.join(tmp, 'model.json')
        with open(meta_tmp, 'w') as f:
            json.dump(meta, f, indent=1)
        # the graph last: a new graph is never read with the old weights
        os.replace(out['bin'], bin_path)
        os.replace(meta_tmp, json_path)
        os.replace(out['param'], path)
    return path


def read_ncnn_metadata(path: str) -> Dict[str, str]:
    """The mmshuffle metadata beside the ncnn graph ``path`` ({} without
    any)."""
    _, json_path = sidecars(path)
    if not osp.isfile(json_path):
        return {}
    with open(json_path) as f:
        return json.load(f)


def update_ncnn_metadata(path: str, **changes: str) -> Dict[str, str]:
    """Change entries of the metadata beside the ncnn graph ``path``
    (written atomically); the new metadata."""
    from .standalone import write_atomically
    meta = dict(read_ncnn_metadata(path), **changes)
    write_atomically(json.dumps(meta, indent=1).encode(), sidecars(path)[1])
    return meta


class NcnnProgram:
    """A loaded ncnn model: ``forward`` on numpy batches (image by image).

    Attributes:
        metadata (dict): the mmshuffle metadata beside it ({} without).
        input_shapes (list[list]): ``[1, 3, H, W]`` at the export size
            where the model has one, ``None`` for free sizes.
        num_outputs (int), threads (int)
        precision (str): ``f32``, or ``fp16`` (weights and storage).

    ``any_size``: run inputs of any size even where the metadata says the
    graph has one (the exporter's own check of that).
    """

    def __init__(self, path: str, threads: int = 1, any_size: bool = False):
        ncnn = require_ncnn()
        bin_path, _ = sidecars(path)
        if not osp.isfile(bin_path):
            raise FileNotFoundError(f'the weights of {path!r} ({bin_path!r}) '
                                    'do not exist')
        self.metadata = read_ncnn_metadata(path)
        fp16 = self.metadata.get('ncnn_fp16') == 'true'
        self.precision = 'fp16' if fp16 else 'f32'
        self.threads = threads
        net = ncnn.Net()
        opt = net.opt
        opt.num_threads = threads
        opt.use_vulkan_compute = False
        opt.use_fp16_storage = opt.use_fp16_packed = fp16
        opt.use_fp16_arithmetic = fp16
        opt.use_bf16_storage = False
        if net.load_param(path) != 0:
            raise ValueError(f'ncnn cannot read the graph {path!r}')
        if net.load_model(bin_path) != 0:
            raise ValueError(f'ncnn cannot read the weights {bin_path!r}')
        self._net, self._ncnn = net, ncnn
        self.num_inputs = len(net.input_names())
        self.num_outputs = len(net.output_names())
        fixed = self.metadata.get('dynamic_hw') != 'true' and not any_size
        size = json.loads(self.metadata.get('input_hw', 'null'))
        self.input_shapes = [[1, 3, *size] if fixed and size else
                             [None, 3, None, None]]

    def __call__(self, *inputs: np.ndarray) -> List[np.ndarray]:
        if len(inputs) != self.num_inputs:
            raise ValueError(f'this ncnn model takes {self.num_inputs} '
                             f'input(s), got {len(inputs)}')
        fixed = self.input_shapes[0]
        if fixed[0] is not None and tuple(inputs[0].shape[1:]) != tuple(
                fixed[1:]):
            raise ValueError(
                f'this ncnn model takes {tuple(fixed[1:])} images, got '
                f'{tuple(inputs[0].shape[1:])}: export it with --shape '
                'matching the inputs')
        per_image = []
        for n in range(len(inputs[0])):
            extractor = self._net.create_extractor()
            for i, array in enumerate(inputs):
                image = np.ascontiguousarray(array[n], dtype=np.float32)
                extractor.input(f'in{i}', self._ncnn.Mat(image).clone())
            outputs = []
            for j in range(self.num_outputs):
                code, mat = extractor.extract(f'out{j}')
                if code != 0:
                    raise RuntimeError(f'ncnn failed to compute out{j} '
                                       f'(code {code})')
                outputs.append(np.array(mat)[None])
            per_image.append(outputs)
        return [np.concatenate(parts) for parts in zip(*per_image)]


def export_module_ncnn(wrapped: nn.Module, path: str, shape: Sequence[int],
                       metadata: Dict[str, str],
                       output_names: Sequence[str],
                       fp16: bool = False) -> str:
    """A classifier or backbone wrapper (:mod:`.onnx`'s
    ``ClassifierForExport``, ``BackboneForExport``) as the ncnn model
    ``path``, at the input size (1, 3, *shape*), in its deploy form
    (BatchNorm folded)."""
    from .fuse import switch_to_deploy
    from .onnx import check_shape
    shape = check_shape(shape)
    switch_to_deploy(wrapped)
    meta = dict(metadata, input_names='["input"]',
                output_names=json.dumps(list(output_names)),
                input_hw=json.dumps(list(shape)), dynamic_hw='false')
    return write_ncnn(wrapped.eval(), torch.rand(1, 3, *shape), path, meta,
                      type(wrapped).__name__, fp16)


__all__ = [
    'NcnnExportError', 'NcnnProgram', 'PIP_NAMES', 'export_module_ncnn',
    'read_ncnn_metadata', 'require_ncnn', 'require_pnnx', 'sidecars',
    'unknown_layers', 'update_ncnn_metadata', 'write_ncnn'
]
