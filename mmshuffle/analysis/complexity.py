"""Parameters, FLOPs and memory access cost of a model, in total and per
backbone stage.

FLOPs are multiply-adds of the convolution and fully-connected layers (the
papers' measure), counted by mmengine's ``FlopAnalyzer`` on a real forward
pass. BatchNorm (folded into the convolution at inference), pooling and
element-wise ops are not counted.

MAC (memory access cost, the measure ShuffleNet V2's guidelines reason
about) is counted per executed operator on the same forward pass: every
tensor an operator reads (activations and weights) plus every tensor it
writes, in elements; reshapes, transposes and slices that only make views
cost nothing, while the copies they may force (``contiguous``, ``cat``)
count. This is the unfused op-by-op traffic, so folding BatchNorm into the
convolution (deploy mode) lowers it.
"""
from collections import defaultdict
from typing import Dict, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

#: the operators whose multiply-adds are counted
COUNTED_OPS = ('conv', 'linear', 'matmul', 'addmm')


def _find_backbone(model: nn.Module) -> Tuple[str, nn.Module]:
    if hasattr(model, 'layer_names'):
        return '', model
    backbone = getattr(model, 'backbone', None)
    if backbone is not None and hasattr(backbone, 'layer_names'):
        return 'backbone.', backbone
    return None, None


#: aten operators that return views although not flagged as such
_VIEW_OPS = ('_unsafe_view', 'alias', 'lift_fresh')


class _MemoryAccessCounter(TorchDispatchMode):
    """Adds up the elements read and written by every aten operator,
    attributed to the part of the model that is running."""

    def __init__(self):
        super().__init__()
        self.part = ''
        self.counts = defaultdict(int)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.is_view or func.__name__.split('.')[0] in _VIEW_OPS:
            return out
        tensors = [
            t for t in tree_flatten((args, kwargs or {}, out))[0]
            if isinstance(t, torch.Tensor)
        ]
        self.counts[self.part] += sum(t.numel() for t in tensors)
        return out


def _forward_args(model: nn.Module, inputs: torch.Tensor) -> tuple:
    """The arguments of one forward: the image, and for a two-stage
    detector (whose RPN needs the image sizes) its data samples."""
    if not hasattr(model, 'rpn_head'):
        return (inputs, )
    from mmshuffle.deploy.detection import input_pixel_samples
    return (inputs, input_pixel_samples(tuple(inputs.shape)))


class _BoundSamples(nn.Module):
    """``model(x, samples)`` as a module of ``x`` alone."""

    def __init__(self, model: nn.Module, samples: list):
        super().__init__()
        self.model = model
        self.samples = samples

    def forward(self, x: torch.Tensor):
        return self.model(x, self.samples)


def memory_access(model: nn.Module, inputs: torch.Tensor,
                  parts: Dict[str, nn.Module] = None) -> Dict[str, int]:
    """Memory access cost (elements read + written) of ``model(inputs)``.

    Args:
        model (nn.Module): the model, run once under ``torch.no_grad``.
        inputs (Tensor): its input.
        parts (dict, optional): ``name -> submodule``; the cost of each
            submodule's operators is reported under its name, the rest
            under ``''``.

    Returns:
        dict: ``name -> elements`` for every part, ``''`` for the rest.
    """
    counter = _MemoryAccessCounter()
    handles = []
    outer = []  # the enclosing parts, innermost last (nothing is stored on
    # the user's modules)
    for name, module in (parts or {}).items():

        def enter(mod, args, name=name):
            outer.append(counter.part)
            counter.part = name

        def leave(mod, args, output):
            counter.part = outer.pop()

        handles.append(module.register_forward_pre_hook(enter))
        handles.append(module.register_forward_hook(leave))
    try:
        with torch.no_grad(), counter:
            model(*_forward_args(model, inputs))
    finally:
        for handle in handles:
            handle.remove()
    return dict(counter.counts)


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def model_complexity(model: nn.Module,
                     shape: Tuple[int, int] = (224, 224),
                     in_channels: int = 3) -> Dict:
    """Measure ``model`` on one ``(1, in_channels, H, W)`` input.

    Returns:
        dict: ``params``, ``flops``, ``mac`` (totals) and ``rows``: a list
        of ``dict(name, params, flops, mac)`` for the stem, each backbone
        output layer and the rest of the model (neck/head), when the model
        has an mmshuffle backbone.

    ``model`` is measured in eval mode and left as it was found: the same
    train/eval flags, no attributes or hooks added.
    """
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f'shape must be (H, W) with positive sizes, '
                         f'got {shape!r}')
    modes = [(m, m.training) for m in model.modules()]
    try:
        return _measure(model.eval(), shape, in_channels)
    finally:
        for module, training in modes:
            module.training = training  # not .train(): deploy forms refuse


def _measure(model: nn.Module, shape: Tuple[int, int],
             in_channels: int) -> Dict:
    inputs = torch.randn(1, in_channels, *shape)
    args = _forward_args(model, inputs)
    # the tracer takes tensors only: a two-stage detector's data sample is
    # bound by a wrapper (its modules then count under 'model.')
    traced, scope = (model, '') if len(args) == 1 else \
        (_BoundSamples(model, args[1]), 'model.')
    analyzer = FlopAnalyzer(traced, (inputs, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    per_module = analyzer.by_module_and_operator()

    def flops_of(name: str) -> int:
        ops = per_module.get(scope + name if name else '', {})
        return int(sum(v for k, v in ops.items() if k in COUNTED_OPS))

    total_flops = flops_of('')
    prefix, backbone = _find_backbone(model)
    parts = {}
    if backbone is not None:
        # ops of the backbone outside its output layers are the stem's
        parts = {'stem': backbone}
        parts.update({n: backbone.get_submodule(n)
                      for n in backbone.layer_names})
    mac = memory_access(model, inputs, parts)
    result = dict(params=_params(model), flops=total_flops,
                  mac=sum(mac.values()), rows=[])
    if backbone is None:
        return result
    rows = []
    stem = [getattr(backbone, n) for n in backbone.stem_names]
    rows.append(
        dict(
            name='stem',
            params=sum(_params(m) for m in stem),
            flops=sum(flops_of(prefix + n) for n in backbone.stem_names),
            mac=mac.get('stem', 0)))
    for i, name in enumerate(backbone.layer_names):
        rows.append(
            dict(
                name=f'{i}: {name}',
                params=_params(backbone.get_submodule(name)),
                flops=flops_of(prefix + name),
                mac=mac.get(name, 0)))
    counted = sum(r['flops'] for r in rows)
    counted_params = sum(r['params'] for r in rows)
    counted_mac = sum(r['mac'] for r in rows)
    # a bare backbone: the rest is its input check and output tuple
    rest = dict(
        name='neck + head' if prefix else 'other',
        params=result['params'] - counted_params,
        flops=total_flops - counted,
        mac=result['mac'] - counted_mac)
    if prefix or rest['mac'] or rest['flops']:
        rows.append(rest)
    result['rows'] = rows
    return result
