"""Lesson 03's exercise checks: a correct answer passes, a wrong one and the shipped stub fail
with an expected-vs-got message, and nothing raises."""
from __future__ import annotations

import numpy as np
import pytest

from course.exercises import l03


# correct answers (what the notebook's solutions show)
def sigmoid_backward(dout, x):
    s = 1.0 / (1.0 + np.exp(-x))
    return dout * s * (1.0 - s)


def affine_backward(dout, x, w, b):
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def numeric_grad(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = float(f(x))
        x[i] = old - h
        minus = float(f(x))
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


# typical mistakes
def sigmoid_backward_forgets_dout(dout, x):
    s = 1.0 / (1.0 + np.exp(-x))
    return s * (1.0 - s)


def affine_backward_wrong_dw(dout, x, w, b):
    return dout @ w.T, (x.T @ dout) / x.shape[0], dout.sum(axis=0)


def numeric_grad_one_sided(f, x, h=1e-5):
    base = float(f(x))
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        grad[i] = (float(f(x)) - base) / h
        x[i] = old
    return grad


def stub(*args, **kwargs):
    return None  # what the notebook ships: "# YOUR CODE HERE" and no return value


CASES = [
    (l03.check_sigmoid_backward, sigmoid_backward, sigmoid_backward_forgets_dout),
    (l03.check_affine_backward, affine_backward, affine_backward_wrong_dw),
    (l03.check_numeric_gradient, numeric_grad, numeric_grad_one_sided),
]
IDS = ["sigmoid_backward", "affine_backward", "numeric_grad"]


@pytest.mark.parametrize("check_fn,good,bad", CASES, ids=IDS)
def test_correct_answer_passes(check_fn, good, bad, capsys):
    assert check_fn(good) == 1.0
    assert "\u2714" in capsys.readouterr().out


@pytest.mark.parametrize("check_fn,good,bad", CASES, ids=IDS)
def test_wrong_answer_fails_with_expected_and_got(check_fn, good, bad, capsys):
    assert check_fn(bad) == 0
    out = capsys.readouterr().out
    assert "\u2718" in out and "expected" in out and "got" in out


@pytest.mark.parametrize("check_fn,good,bad", CASES, ids=IDS)
def test_stub_fails_without_raising(check_fn, good, bad, capsys):
    assert check_fn(stub) == 0
    out = capsys.readouterr().out
    assert "\u2718" in out and "None" in out


def test_points_scale():
    assert l03.check_affine_backward(affine_backward, points=2.5) == 2.5
