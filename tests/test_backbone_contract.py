"""One contract test over every registered backbone and every variant."""
import copy

import pytest
import torch
from helpers import (ALL_VARIANTS, NUM_OUTPUTS, all_out_indices, assert_close,
                     assert_norms_training, batch_norms, build_backbone,
                     expected_size, variant_id)

import mmshuffle  # noqa: F401  (registers the backbones)
from mmshuffle.registry import MODELS


def test_every_registered_backbone_is_covered():
    from mmshuffle.models.backbones.base import MobileBackbone
    backbones = {
        name
        for name, cls in MODELS.module_dict.items()
        if issubclass(cls, MobileBackbone)
    }
    assert backbones == set(NUM_OUTPUTS)
    assert {name for name, _ in ALL_VARIANTS} == set(NUM_OUTPUTS)


@pytest.mark.parametrize('variant', ALL_VARIANTS, ids=variant_id)
def test_outputs_match_feature_info(variant):
    name, kwargs = variant
    model = build_backbone(
        name, out_indices=all_out_indices(name), **kwargs).eval()
    info = model.feature_info
    assert [f['index'] for f in info] == list(all_out_indices(name))
    assert model.out_channels == tuple(f['channels'] for f in info)
    with torch.no_grad():
        for h, w in ((224, 224), (225, 161), (97, 130)):
            outs = model(torch.randn(1, 3, h, w))
            assert isinstance(outs, tuple) and len(outs) == len(info)
            for out, f in zip(outs, info):
                assert out.shape == (1, f['channels'],
                                     expected_size(h, f['stride']),
                                     expected_size(w, f['stride']))
                assert torch.isfinite(out).all()


@pytest.mark.parametrize('variant', ALL_VARIANTS, ids=variant_id)
def test_backward_reaches_every_parameter_and_with_cp_matches(variant):
    name, kwargs = variant
    model = build_backbone(name, out_indices=all_out_indices(name), **kwargs)
    model_cp = build_backbone(
        name, out_indices=all_out_indices(name), with_cp=True, **kwargs)
    model_cp.load_state_dict(model.state_dict())
    model.train()
    model_cp.train()
    x = torch.randn(2, 3, 64, 80)
    grads = []
    outputs = []
    for m in (model, model_cp):
        inp = x.clone().requires_grad_(True)
        outs = m(inp)
        sum(o.float().pow(2).mean() for o in outs).backward()
        outputs.append(outs)
        grads.append({n: p.grad for n, p in m.named_parameters()})
    for n, g in grads[0].items():
        assert g is not None, f'no gradient reached {n}'
        assert torch.isfinite(g).all(), f'non-finite gradient in {n}'
    for a, b in zip(*outputs):
        assert_close(a, b)
    for n in grads[0]:
        assert_close(grads[0][n], grads[1][n])


@pytest.mark.parametrize('name', sorted(NUM_OUTPUTS))
def test_frozen_stages_freeze_params_and_bn_stats(name):
    kwargs = dict(groups=3) if name == 'ShuffleNetV1' else {}
    for frozen in range(-1, NUM_OUTPUTS[name] + 1):
        model = build_backbone(
            name,
            out_indices=all_out_indices(name),
            frozen_stages=frozen,
            **kwargs)
        model.train()
        frozen_modules = model._frozen_modules()
        assert len(frozen_modules) == (0 if frozen < 0 else 1 + frozen)
        frozen_params = {
            id(p)
            for m in frozen_modules for p in m.parameters()
        }
        for m in frozen_modules:
            assert_norms_training(m, False)  # the stem's BN included
            assert all(not p.requires_grad for p in m.parameters())
        for n, p in model.named_parameters():
            if id(p) not in frozen_params:
                assert p.requires_grad, n
        # BN outside the frozen part still trains
        live = [
            bn for bn in batch_norms(model)
            if not any(bn is x for m in frozen_modules for x in m.modules())
        ]
        assert all(bn.training for bn in live)
        # running statistics of frozen BNs do not move in a training step
        before = copy.deepcopy(
            [bn.running_mean.clone() for bn in batch_norms(model)])
        outs = model(torch.randn(2, 3, 64, 64))
        loss = sum(o.mean() for o in outs)
        if loss.requires_grad:
            loss.backward()
        for bn, old in zip(batch_norms(model), before):
            frozen_bn = any(bn is x for m in frozen_modules
                            for x in m.modules())
            if frozen_bn:
                assert torch.equal(bn.running_mean, old)
        for m in frozen_modules:
            assert all(p.grad is None for p in m.parameters())
        # eval() then train() re-applies the freezing
        model.eval().train()
        for m in frozen_modules:
            assert_norms_training(m, False)


@pytest.mark.parametrize('name', sorted(NUM_OUTPUTS))
@pytest.mark.parametrize('norm_cfg', [dict(type='BN'), dict(type='SyncBN')])
def test_norm_eval_covers_every_batch_norm(name, norm_cfg):
    model = build_backbone(name, norm_eval=True, norm_cfg=norm_cfg)
    assert len(batch_norms(model)) > 0
    model.train()
    assert_norms_training(model, False)
    model.norm_eval = False
    model.train()
    assert_norms_training(model, True)


@pytest.mark.parametrize('name', sorted(NUM_OUTPUTS))
def test_forward_computes_only_up_to_the_last_requested_output(name):
    model = build_backbone(name, out_indices=(0, )).eval()
    full = build_backbone(name, out_indices=all_out_indices(name)).eval()
    full.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert_close(model(x)[0], full(x)[0])


@pytest.mark.parametrize('name', sorted(NUM_OUTPUTS))
def test_in_channels(name):
    model = build_backbone(name, in_channels=1).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, 64, 64))
    assert out[-1].shape[1] == model.out_channels[-1]


@pytest.mark.parametrize('name,kwargs', [
    ('ShuffleNetV1', dict(groups=3)),
    ('ShuffleNetV2', dict()),
    ('ShuffleNetV2', dict(extra_dw=True)),
    ('MobileNetV2', dict()),
])
def test_channels_last_training_equals_nchw(name, kwargs):
    """``channels_last=True``: NHWC weights (kept through init_weights and
    load_state_dict), the same outputs and gradients as NCHW."""
    from helpers import randomize_bn_stats
    torch.manual_seed(0)
    outs = all_out_indices(name)
    # LeakyReLU: no all-zero max-pool windows, whose tied maxima may route
    # the gradient to a different (equally valid) element in each format
    kwargs = dict(kwargs, act_cfg=dict(type='LeakyReLU'))
    nchw = build_backbone(name, out_indices=outs, **kwargs)
    randomize_bn_stats(nchw)
    nhwc = build_backbone(name, out_indices=outs, channels_last=True,
                          **kwargs)
    nhwc.load_state_dict(nchw.state_dict())
    convs = [m.weight for m in nhwc.modules()
             if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last)
               for w in convs)
    x = torch.randn(2, 3, 64, 64)
    for model in (nchw, nhwc):
        model.train()
        model.zero_grad()
        loss = sum(o.square().mean() for o in model(x))
        loss.backward()
    with torch.no_grad():
        for a, b in zip(nchw.train(False)(x), nhwc.train(False)(x)):
            assert (a - b).abs().max() < 1e-4
    # gradients: equal up to fp32 rounding (other reduction orders and
    # algorithms in NHWC kernels), relative to each gradient's scale. On a
    # 2-core AMD EPYC oneDNN's NHWC depthwise backward differs by 2.8e-3
    # on MobileNet V2's last 2x2 maps (3% off float64 there, where NCHW is
    # 0.02% off); a layout bug gives differences of order 1
    for (key, a), b in zip(nchw.named_parameters(), nhwc.parameters()):
        assert (a.grad - b.grad).abs().max() <= 5e-3 * max(
            1.0, a.grad.abs().max().item()), key


def test_channels_last_must_be_a_bool():
    with pytest.raises(TypeError, match='channels_last must be a bool'):
        build_backbone('ShuffleNetV2', channels_last='yes')
