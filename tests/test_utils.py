import pytest
import torch

from mmshuffle import channel_shuffle, make_divisible


def test_channel_shuffle_permutation():
    x = torch.arange(6.).view(1, 6, 1, 1)
    out = channel_shuffle(x, 2)
    assert out.flatten().tolist() == [0, 3, 1, 4, 2, 5]
    out = channel_shuffle(x, 3)
    assert out.flatten().tolist() == [0, 2, 4, 1, 3, 5]
    # groups=1 and groups=C are the identity
    assert torch.equal(channel_shuffle(x, 1), x)
    assert torch.equal(channel_shuffle(x, 6), x)


def test_channel_shuffle_inverse():
    x = torch.randn(2, 12, 5, 7)
    # shuffling with g then with C/g restores the input
    assert torch.equal(channel_shuffle(channel_shuffle(x, 3), 4), x)


def test_channel_shuffle_keeps_channels_last():
    x = torch.randn(2, 12, 5, 7)
    xc = x.contiguous(memory_format=torch.channels_last)
    for groups in (2, 3, 4):
        out = channel_shuffle(xc, groups)
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(out, channel_shuffle(x, groups))


@pytest.mark.parametrize('value,divisor,expected', [
    (32 * 1.0, 8, 32),
    (32 * 0.35, 8, 16),  # 11.2 -> 8 would drop >10%, bumped to 16
    (24 * 1.4, 8, 32),
    (60, 8, 64),
    (3, 8, 8),  # min_value defaults to the divisor
])
def test_make_divisible(value, divisor, expected):
    assert make_divisible(value, divisor) == expected
    assert make_divisible(value, divisor) % divisor == 0
