"""Bad arguments and inputs get ValueError/TypeError naming the argument,
the value received and what is allowed."""
import pytest
import torch

from mmshuffle import (MobileNetV2, ShuffleNetV1, ShuffleNetV2,
                       channel_shuffle, make_divisible)

BACKBONES = [ShuffleNetV1, ShuffleNetV2, MobileNetV2]


@pytest.mark.parametrize('kwargs,exc,match', [
    (dict(groups=5), ValueError, r'groups must be one of \[1, 2, 3, 4, 8\], '
     r'but got 5'),
    (dict(groups=True), ValueError, 'groups must be one of'),
    (dict(widen_factor=0.75), ValueError,
     r'widen_factor must be one of \[0.25, 0.5, 1.0, 1.5, 2.0\], but got '
     r'0.75'),
    (dict(widen_factor='1x'), TypeError, "widen_factor must be a number, but "
     "got '1x'"),
    (dict(shuffle=1), TypeError, 'shuffle must be a bool, but got 1'),
])
def test_shufflenet_v1_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ShuffleNetV1(**kwargs)


@pytest.mark.parametrize('kwargs,exc,match', [
    (dict(widen_factor=0.75), ValueError,
     r'widen_factor must be one of \[0.5, 1.0, 1.5, 2.0\], but got 0.75'),
    (dict(widen_factor=None), TypeError,
     'widen_factor must be a number, but got None'),
])
def test_shufflenet_v2_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ShuffleNetV2(**kwargs)


@pytest.mark.parametrize('value,exc', [(0, ValueError), (-1.0, ValueError),
                                       (float('inf'), ValueError),
                                       ('1.0', TypeError)])
def test_mobilenet_v2_widen_factor(value, exc):
    with pytest.raises(exc, match=f'widen_factor must be .*{value!r}'):
        MobileNetV2(widen_factor=value)


@pytest.mark.parametrize('cls', BACKBONES)
@pytest.mark.parametrize('out_indices,exc,match', [
    ((), ValueError, 'out_indices must not be empty'),
    ((0, 0), ValueError, r'out_indices must not repeat an index, but got '
     r'\(0, 0\)'),
    ((1, 0), ValueError, r'increasing order.*\(1, 0\)'),
    ((9, ), ValueError, r'out_indices must hold ints in range\(0, \d\), '
     r'but got 9'),
    ((-1, ), ValueError, 'but got -1'),
    ((0.5, ), TypeError, 'but got 0.5'),
    ('0', TypeError, "out_indices must be a list or tuple of ints, but got "
     "'0'"),
])
def test_out_indices(cls, out_indices, exc, match):
    with pytest.raises(exc, match=match):
        cls(out_indices=out_indices)


@pytest.mark.parametrize('cls,num', [(ShuffleNetV1, 3), (ShuffleNetV2, 4),
                                     (MobileNetV2, 8)])
def test_frozen_stages(cls, num):
    for bad in (-2, num + 1):
        with pytest.raises(
                ValueError,
                match=rf'frozen_stages must be in range\(-1, {num + 1}\).*'
                rf'but got {bad}'):
            cls(frozen_stages=bad)
    with pytest.raises(TypeError, match='frozen_stages must be an int'):
        cls(frozen_stages=1.0)
    cls(frozen_stages=num)  # the whole network frozen is allowed


@pytest.mark.parametrize('cls', BACKBONES)
def test_in_channels_and_flags(cls):
    with pytest.raises(ValueError,
                       match='in_channels must be >= 1, but got 0'):
        cls(in_channels=0)
    with pytest.raises(TypeError, match='in_channels must be an int'):
        cls(in_channels=3.0)
    with pytest.raises(TypeError, match='norm_eval must be a bool'):
        cls(norm_eval='yes')


@pytest.mark.parametrize('cls', BACKBONES)
def test_forward_input_checked(cls):
    model = cls().eval()
    with pytest.raises(ValueError, match=r'expects an input of shape \(N, 3, '
                       r'H, W\), but got \(3, 64, 64\)'):
        model(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match=r'but got \(1, 4, 64, 64\)'):
        model(torch.randn(1, 4, 64, 64))
    with pytest.raises(TypeError, match='expects a torch.Tensor'):
        model([[1.0]])


def test_channel_shuffle_and_make_divisible_guards():
    x = torch.arange(12.).view(1, 6, 1, 2)
    with pytest.raises(ValueError, match=r'channels \(6\) must be divisible '
                       r'by groups \(4\)'):
        channel_shuffle(x, 4)
    with pytest.raises(ValueError, match='groups must be a positive int'):
        channel_shuffle(x, 0)
    with pytest.raises(ValueError, match='4-D'):
        channel_shuffle(x[0], 2)
    with pytest.raises(ValueError, match='divisor must be a positive int'):
        make_divisible(10, 0)
