"""Checks for lesson 03, backprop by hand in numpy. PyTorch autograd is the oracle.

Each check runs the learner's function on a few random float64 inputs, runs the same computation
through ``torch.autograd`` and prints one line: correct, or what was expected and what came out
for the first case that differs. It returns the points earned (0 or ``points``) and never raises.

==============================  ===============================================================
check                           the learner writes
==============================  ===============================================================
``check_sigmoid_backward``      ``sigmoid_backward(dout, x) -> dx``, all arrays of one shape
``check_affine_backward``       ``affine_backward(dout, x, w, b) -> (dx, dw, db)``
``check_numeric_gradient``      ``numeric_grad(f, x, h=1e-5) -> grad`` of a scalar ``f``
==============================  ===============================================================
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from course import check


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    """A float64 CPU tensor copy of ``a``."""
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


# ---------------------------------------------------------------------------------------------
# Exercise 1: backward of the sigmoid
# ---------------------------------------------------------------------------------------------
def _sigmoid_backward_oracle(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    xt = _t(x, grad=True)
    torch.sigmoid(xt).backward(_t(dout))
    return xt.grad.numpy()


def check_sigmoid_backward(sigmoid_backward: Callable, points: float = 1.0) -> float:
    """Check ``sigmoid_backward(dout, x) -> dx`` against ``torch.sigmoid`` + autograd.

    Inputs: ``dout`` and ``x`` are float64 arrays of the same shape (1-D, 2-D and a 0-d scalar);
    the expected ``dx = dout * s * (1 - s)`` with ``s = sigmoid(x)`` has that shape too.
    """
    rng = _rng(3)
    shapes = [(5,), (4, 3), ()]
    cases = [(rng.standard_normal(s), 2 * rng.standard_normal(s)) for s in shapes]
    return check.function("sigmoid_backward", sigmoid_backward, _sigmoid_backward_oracle, cases,
                          atol=1e-9, rtol=1e-7, points=points)


# ---------------------------------------------------------------------------------------------
# Exercise 2: backward of an affine layer
# ---------------------------------------------------------------------------------------------
def _affine_backward_oracle(dout, x, w, b):
    xt, wt, bt = _t(x, True), _t(w, True), _t(b, True)
    (xt @ wt + bt).backward(_t(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def check_affine_backward(affine_backward: Callable, points: float = 1.0) -> float:
    """Check ``affine_backward(dout, x, w, b) -> (dx, dw, db)`` for ``out = x @ w + b``.

    Shapes: ``x`` (N, D), ``w`` (D, M), ``b`` (M,), ``dout`` (N, M); the expected results have
    the shapes of ``x``, ``w`` and ``b``. The oracle is ``torch.autograd`` in float64.
    """
    rng = _rng(4)
    cases = []
    for n, d, m in [(4, 5, 3), (10, 2, 6), (2, 3, 1)]:
        x, w, b = rng.standard_normal((n, d)), rng.standard_normal((d, m)), rng.standard_normal(m)
        cases.append((rng.standard_normal((n, m)), x, w, b))
    return check.function("affine_backward", affine_backward, _affine_backward_oracle, cases,
                          atol=1e-9, rtol=1e-7, points=points)


# ---------------------------------------------------------------------------------------------
# Exercise 3: a numeric gradient by central differences
# ---------------------------------------------------------------------------------------------
def _cubic(a):
    """sum(a^3) - 2 sum(a^2): works on numpy arrays and torch tensors alike."""
    return (a ** 3).sum() - 2 * (a * a).sum()


def _product(a):
    """(sum of a)^2 times the first entry: couples every entry with every other."""
    flat = a.reshape(-1)
    return flat.sum() ** 2 * flat[0]


def _numeric_gradient_oracle(f, x, h=1e-5):
    xt = _t(x, grad=True)
    f(xt).backward()
    return xt.grad.numpy()


def check_numeric_gradient(numeric_grad: Callable, points: float = 1.0) -> float:
    """Check ``numeric_grad(f, x, h=1e-5) -> grad`` (same shape as ``x``) on smooth functions.

    The exact gradient comes from ``torch.autograd``. Central differences in float64 are
    accurate to about 1e-9 here; one-sided differences ``(f(x+h) - f(x)) / h`` are off by about
    ``h`` and fail the tolerance on purpose.
    """
    rng = _rng(5)
    cases = [(_cubic, rng.standard_normal(4)), (_cubic, rng.standard_normal((3, 2))),
             (_product, rng.standard_normal((2, 3)))]
    return check.function("numeric_grad", numeric_grad, _numeric_gradient_oracle, cases,
                          atol=1e-7, rtol=1e-6, points=points)
