"""The checks of lesson 12: a correct answer passes, a wrong one and the shipped stub fail clearly."""
from __future__ import annotations

from torch import nn

from course.exercises import l12


def stub(*args):
    """What the notebook ships: the learner has not written anything yet."""
    return None


def good_bottleneck(c_in, c_mid, c_out, kernel, height, width):
    return height * width * (c_in * c_mid + c_mid * c_out * kernel * kernel)


def test_counted_multiplications_of_the_lesson_example():
    direct = nn.Conv2d(192, 32, 5, padding=2)
    assert l12.counted_multiplications(direct, (1, 192, 28, 28)) == 28 * 28 * 32 * 192 * 25


def test_bottleneck_multiplications(capsys):
    assert l12.bottleneck_multiplications(good_bottleneck) == 1.0
    assert "correct" in capsys.readouterr().out


def test_bottleneck_multiplications_wrong(capsys):
    # forgets the 1x1 layer's own cost
    assert l12.bottleneck_multiplications(
        lambda ci, cm, co, k, h, w: h * w * cm * co * k * k) == 0
    assert "expected 12,443,648, got 10,035,200" in capsys.readouterr().out


def test_bottleneck_multiplications_stub(capsys):
    assert l12.bottleneck_multiplications(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_receptive_field(capsys):
    assert l12.receptive_field(lambda n, k: n * (k - 1) + 1) == 1.0
    assert "correct" in capsys.readouterr().out


def test_receptive_field_wrong(capsys):
    assert l12.receptive_field(lambda n, k: n * k) < 1.0   # counts the overlaps twice
    assert "expected 5, got 6" in capsys.readouterr().out
    assert l12.receptive_field(lambda n, k: n * (k - 1)) == 0   # forgets the centre pixel
    assert "expected 5, got 4" in capsys.readouterr().out


def test_receptive_field_stub(capsys):
    assert l12.receptive_field(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_stacked_weights(capsys):
    assert l12.stacked_weights(lambda c, k, n: n * c * c * k * k) == 1.0
    assert "correct" in capsys.readouterr().out


def test_stacked_weights_wrong(capsys):
    assert l12.stacked_weights(lambda c, k, n: n * c * k * k) == 0   # forgets the input channels
    assert "expected 6,400, got 400" in capsys.readouterr().out


def test_a_crash_or_a_float_is_reported(capsys):
    assert l12.stacked_weights(lambda c, k, n: 1 / 0) == 0
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert l12.receptive_field(lambda n, k: n * (k - 1) + 1.5) == 0
    assert "expected 5, got 5.5000" in capsys.readouterr().out


def test_stacked_weights_stub(capsys):
    assert l12.stacked_weights(stub) == 0
    assert "got None" in capsys.readouterr().out
