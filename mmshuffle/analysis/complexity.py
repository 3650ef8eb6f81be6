"""Parameters and FLOPs of a model, in total and per backbone stage.

FLOPs are multiply-adds of the convolution and fully-connected layers (the
papers' measure), counted by mmengine's ``FlopAnalyzer`` on a real forward
pass. BatchNorm (folded into the convolution at inference), pooling and
element-wise ops are not counted.
"""
from typing import Dict, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from torch import nn

#: the operators whose multiply-adds are counted
COUNTED_OPS = ('conv', 'linear', 'matmul', 'addmm')


def _find_backbone(model: nn.Module) -> Tuple[str, nn.Module]:
    if hasattr(model, 'layer_names'):
        return '', model
    backbone = getattr(model, 'backbone', None)
    if backbone is not None and hasattr(backbone, 'layer_names'):
        return 'backbone.', backbone
    return None, None


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def model_complexity(model: nn.Module,
                     shape: Tuple[int, int] = (224, 224),
                     in_channels: int = 3) -> Dict:
    """Measure ``model`` on one ``(1, in_channels, H, W)`` input.

    Returns:
        dict: ``params``, ``flops`` (totals) and ``rows``: a list of
        ``dict(name, params, flops)`` for the stem, each backbone output
        layer and the rest of the model (neck/head), when the model has an
        mmshuffle backbone.
    """
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f'shape must be (H, W) with positive sizes, '
                         f'got {shape!r}')
    model = model.eval()
    inputs = torch.randn(1, in_channels, *shape)
    analyzer = FlopAnalyzer(model, (inputs, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    per_module = analyzer.by_module_and_operator()

    def flops_of(name: str) -> int:
        ops = per_module.get(name, {})
        return int(sum(v for k, v in ops.items() if k in COUNTED_OPS))

    total_flops = flops_of('')
    result = dict(params=_params(model), flops=total_flops, rows=[])
    prefix, backbone = _find_backbone(model)
    if backbone is None:
        return result
    rows = []
    stem = [getattr(backbone, n) for n in backbone.stem_names]
    rows.append(
        dict(
            name='stem',
            params=sum(_params(m) for m in stem),
            flops=sum(flops_of(prefix + n) for n in backbone.stem_names)))
    for i, name in enumerate(backbone.layer_names):
        rows.append(
            dict(
                name=f'{i}: {name}',
                params=_params(backbone.get_submodule(name)),
                flops=flops_of(prefix + name)))
    counted = sum(r['flops'] for r in rows)
    counted_params = sum(r['params'] for r in rows)
    if prefix:
        rows.append(
            dict(
                name='neck + head',
                params=result['params'] - counted_params,
                flops=total_flops - counted))
    result['rows'] = rows
    return result
