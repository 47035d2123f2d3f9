"""The checks of lesson 13: a correct answer passes, a wrong one and the shipped stub fail clearly."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course.exercises import l13


def stub(*args):
    """What the notebook ships: the learner has not written anything yet."""
    return None


def good_bottleneck(c_in, c_mid, c_out, kernel, height, width):
    return height * width * (c_in * c_mid + c_mid * c_out * kernel * kernel)


def test_counted_multiplications_of_the_lesson_example():
    direct = nn.Conv2d(192, 32, 5, padding=2)
    assert l13.counted_multiplications(direct, (1, 192, 28, 28)) == 28 * 28 * 32 * 192 * 25


def test_bottleneck_multiplications(capsys):
    assert l13.bottleneck_multiplications(good_bottleneck) == 1.0
    assert "correct" in capsys.readouterr().out


def test_bottleneck_multiplications_wrong(capsys):
    # forgets the 1x1 layer's own cost
    assert l13.bottleneck_multiplications(
        lambda ci, cm, co, k, h, w: h * w * cm * co * k * k) == 0
    assert "expected 12,443,648, got 10,035,200" in capsys.readouterr().out


def test_bottleneck_multiplications_stub(capsys):
    assert l13.bottleneck_multiplications(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_receptive_field(capsys):
    assert l13.receptive_field(lambda n, k: n * (k - 1) + 1) == 1.0
    assert "correct" in capsys.readouterr().out


def test_receptive_field_wrong(capsys):
    assert l13.receptive_field(lambda n, k: n * k) < 1.0   # counts the overlaps twice
    assert "expected 5, got 6" in capsys.readouterr().out
    assert l13.receptive_field(lambda n, k: n * (k - 1)) == 0   # forgets the centre pixel
    assert "expected 5, got 4" in capsys.readouterr().out


def test_receptive_field_stub(capsys):
    assert l13.receptive_field(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_a_crash_or_a_float_is_reported(capsys):
    assert l13.bottleneck_multiplications(lambda *a: 1 / 0) == 0
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert l13.receptive_field(lambda n, k: n * (k - 1) + 1.5) == 0
    assert "expected 5, got 5.5000" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Exercise 3: the Inception block
# --------------------------------------------------------------------------------------------
def conv_bn(c_in, c_out, kernel_size, padding=0, bias=False):
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size, padding=padding, bias=bias),
                         nn.BatchNorm2d(c_out))


class Good(l13.Inception):
    """The lesson's solution (the package's stand-in block), with the concatenation axis as a knob."""

    dim = 1

    def branches(self, x):
        return [self.branch1(x), self.branch5(x), self.branch3(x), self.branch_pool(x)]

    def forward(self, x):
        return torch.relu(torch.cat(self.branches(x), dim=self.dim))


class MaxPool(Good):
    """GoogLeNet's original pooling branch: max pooling is just as right."""

    def __init__(self, c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool):
        super().__init__(c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool)
        self.branch_pool[0] = nn.MaxPool2d(3, stride=1, padding=1)


class WrongAxis(Good):
    def __init__(self, *widths):
        super().__init__(*widths)
        self.dim = 2


class NoBottleneck5(Good):
    def __init__(self, c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool):
        super().__init__(c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool)
        self.branch5 = conv_bn(c_in, w5, 5, padding=2)


class NoBottleneck3(Good):
    def __init__(self, c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool):
        super().__init__(c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool)
        self.branch3 = nn.Sequential(conv_bn(c_in, w3, 3, padding=1), nn.ReLU(),
                                     conv_bn(w3, w3, 3, padding=1))


class WithBiases(Good):
    def __init__(self, c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool):
        super().__init__(c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool)
        self.branch1 = conv_bn(c_in, w1, 1, bias=True)


class PoolFirst(Good):
    """Right layers, wrong order of the branches in the output."""

    def branches(self, x):
        return [self.branch_pool(x), self.branch5(x), self.branch3(x), self.branch1(x)]


class Unpadded5(Good):
    def __init__(self, c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool):
        super().__init__(c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool)
        self.branch5[2] = conv_bn(w5_reduce, w5, 5)


class Stub(nn.Module):
    """What the notebook ships."""

    def __init__(self, c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool):
        super().__init__()
        self.out_channels = w1 + w5 + w3 + w_pool

    def forward(self, x):
        ...


@pytest.mark.parametrize("block", [Good, MaxPool, l13.Inception])
def test_inception_block_passes(block, capsys):
    assert l13.inception_block(block) == 1.0
    assert "correct" in capsys.readouterr().out


def test_branch_receptive_fields_of_the_solution():
    assert l13.branch_receptive_fields(Good(6, 3, 2, 4, 2, 5, 3), 6, (3, 4, 5, 3)) == \
        [(1, 1), (5, 5), (5, 5), (3, 3)]


@pytest.mark.parametrize("block, message", [
    (WrongAxis, "concatenate the branches on the channel axis, dim=1"),
    (NoBottleneck5, "the 5x5 branch has no 1x1 bottleneck"),
    (NoBottleneck3, "the 3x3-3x3 branch has no 1x1 bottleneck"),
    (WithBiases, "parameters, expected"),
    (PoolFirst, "the 1x1 branch, in the order 1x1, 5x5, 3x3-3x3, pool) depend on a 3 x 3 input region, expected 1 x 1"),
    (Unpadded5, "every branch needs stride 1 and 'same' padding"),
    (Stub, "returned None"),
])
def test_inception_block_wrong(block, message, capsys):
    assert l13.inception_block(block) == 0
    out = capsys.readouterr().out
    assert "✘" in out and message in out, out


def test_wrong_axis_with_equal_widths_is_named(monkeypatch, capsys):
    """With equal branch widths torch.cat(dim=2) runs; the shape check names the axis."""
    monkeypatch.setattr(l13, "INCEPTION_CASES", [(4, 2, 2, 2, 2, 2, 2)])
    assert l13.inception_block(WrongAxis) == 0
    out = capsys.readouterr().out
    assert "expected output shape (2, 8, 11, 11), got (2, 2, 44, 11)" in out
    assert "concatenated along dim=2; the channel axis is dim=1" in out


def test_inception_block_not_a_class(capsys):
    assert l13.inception_block(None) == 0
    assert "expected a class" in capsys.readouterr().out
