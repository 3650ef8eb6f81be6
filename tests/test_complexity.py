import pytest
import torch

import mmshuffle  # noqa: F401
from mmshuffle.analysis import model_complexity
from mmshuffle.models.classifier import build_classifier as classifier


@pytest.mark.parametrize('widen_factor,channels,paper_mflops', [
    (0.5, 1024, 41), (1.0, 1024, 146), (1.5, 1024, 299), (2.0, 2048, 591)
])
def test_shufflenet_v2_flops_match_the_paper(widen_factor, channels,
                                             paper_mflops):
    model = classifier(
        dict(type='mmshuffle.ShuffleNetV2', widen_factor=widen_factor),
        channels)
    info = model_complexity(model, (224, 224))
    assert abs(info['flops'] / 1e6 - paper_mflops) / paper_mflops < 0.03
    # the rows add up to the totals
    assert sum(r['flops'] for r in info['rows']) == info['flops']
    assert sum(r['params'] for r in info['rows']) == info['params']
    assert [r['name'] for r in info['rows']][:2] == ['stem', '0: layers.0']


def test_mobilenet_v2_flops_match_the_paper():
    model = classifier(dict(type='mmshuffle.MobileNetV2'), 1280)
    info = model_complexity(model, (224, 224))
    assert abs(info['flops'] / 1e6 - 300) / 300 < 0.03
    assert info['params'] == 3_504_872


def test_shufflenet_v1_flops_match_the_paper():
    # Table 2 of the paper: 1x g=3 is 137 MFLOPs (with the fc layer)
    model = classifier(dict(type='mmshuffle.ShuffleNetV1', groups=3), 960)
    info = model_complexity(model, (224, 224))
    assert abs(info['flops'] / 1e6 - 137) / 137 < 0.03


def test_bare_backbone_and_bad_shape():
    info = model_complexity(mmshuffle.ShuffleNetV2(), (64, 96))
    assert info['flops'] > 0 and len(info['rows']) == 5
    with pytest.raises(ValueError, match='shape must be'):
        model_complexity(mmshuffle.ShuffleNetV2(), (0, 10))


def test_mac_of_a_1x1_conv_is_the_papers_formula():
    # ShuffleNet V2, guideline G1: MAC = hw(c1 + c2) + c1 c2
    from torch import nn

    from mmshuffle.analysis.complexity import memory_access
    h, w, c1, c2 = 7, 9, 16, 24
    conv = nn.Conv2d(c1, c2, 1, bias=False)
    x = torch.randn(1, c1, h, w)
    assert memory_access(conv, x) == {'': h * w * (c1 + c2) + c1 * c2}


def test_mac_counts_copies_but_not_views():
    from torch import nn

    from mmshuffle import channel_shuffle
    from mmshuffle.analysis.complexity import memory_access

    class Shuffle(nn.Module):

        def forward(self, x):
            return channel_shuffle(x, 2)

    class View(nn.Module):

        def forward(self, x):
            return x.view(x.shape[0], -1).transpose(0, 1)

    x = torch.randn(2, 8, 5, 5)
    assert memory_access(Shuffle(), x) == {'': 2 * x.numel()}  # one copy
    assert memory_access(View(), x) == {}


def test_mac_rows_add_up_and_deploy_lowers_it():
    from mmshuffle.deploy import switch_to_deploy
    model = classifier(dict(type='mmshuffle.ShuffleNetV2'), 1024)
    info = model_complexity(model, (224, 224))
    assert sum(r['mac'] for r in info['rows']) == info['mac']
    assert all(r['mac'] > 0 for r in info['rows'])
    deployed = model_complexity(switch_to_deploy(model), (224, 224))
    # BN folded: same FLOPs, fewer parameters and memory accesses
    assert deployed['flops'] == info['flops']
    assert deployed['params'] < info['params']
    assert deployed['mac'] < info['mac']
