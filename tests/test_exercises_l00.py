"""The checks of lesson 00 pass a correct answer and fail (0 points, with feedback) wrong ones and the stubs."""
from __future__ import annotations

import torch

from course.exercises import l00


def _stub(x):
    return None


def test_relu_correct(capsys):
    def relu_(x):
        x[x < 0] = 0
        return x

    assert l00.check_relu_(relu_) == 1
    assert l00.check_relu_(lambda x: x.clamp_(min=0)) == 1
    assert "correct" in capsys.readouterr().out


def test_relu_stub_and_wrong(capsys):
    assert l00.check_relu_(_stub) == 0
    assert "x itself did not change" in capsys.readouterr().out
    assert l00.check_relu_(torch.relu) == 0          # right values, but a new tensor
    assert "returned values are right" in capsys.readouterr().out

    def wrong(x):
        x[x < 0] = 1
        return x

    assert l00.check_relu_(wrong) == 0
    out = capsys.readouterr().out
    assert "expected 0, got 1" in out

    def no_return(x):
        x.clamp_(min=0)

    assert l00.check_relu_(no_return) == 0
    assert "instead of x itself" in capsys.readouterr().out
    assert l00.check_relu_("not a function") == 0


def test_relu_crash_is_reported(capsys):
    def crash(x):
        raise ValueError("oops")

    assert l00.check_relu_(crash) == 0
    assert "ValueError: oops" in capsys.readouterr().out


def test_flatten_batch(capsys):
    assert l00.check_flatten_batch(lambda x: x.reshape(x.shape[0], -1)) == 1
    assert l00.check_flatten_batch(_stub) == 0
    assert "got None" in capsys.readouterr().out
    # view fails on the non-contiguous case: partial credit, and the error is shown
    assert l00.check_flatten_batch(lambda x: x.view(x.shape[0], -1)) == 0.75
    assert "RuntimeError" in capsys.readouterr().out
    assert l00.check_flatten_batch(lambda x: x.reshape(x.shape[0], -1).flip(1)) == 0
    assert "expected" in capsys.readouterr().out


def test_bridge(capsys):
    t, u = l00.bridge_scenario()
    assert l00.check_bridge(t, u) == 2
    assert l00.check_bridge(None, None) == 0
    assert "got None" in capsys.readouterr().out
    assert l00.check_bridge([0, 10, 20, 30], [-1, 2, 3, 4]) == 0   # the classic wrong guesses
    out = capsys.readouterr().out
    assert "expected -1, got 0" in out and "expected 1, got -1" in out
