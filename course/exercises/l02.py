"""Checks for lesson 02 (gradient descent): the MAE gradient, the largest stable learning rate and
a bias-corrected exponential moving average.

References: PyTorch autograd for the gradient, the second derivative from
``torch.autograd.functional.hessian`` for the learning rate (gradient descent on a parabola with
curvature ``c`` converges for ``0 < lr < 2 / c``) and ``course.plot.smooth`` for the EMA.
"""
from __future__ import annotations

import numpy as np
import torch

from course import check

__all__ = ["check_mae_gradient", "check_max_stable_lr", "check_ema"]


def _mae_grad_reference(x: torch.Tensor, y: torch.Tensor, w: float) -> torch.Tensor:
    """dL/dw of mean(|x * w - y|) by autograd."""
    w = torch.tensor(float(w), dtype=x.dtype, requires_grad=True)
    (x * w - y).abs().mean().backward()
    return w.grad


def _mae_grad_cases() -> list[tuple]:
    g = torch.Generator().manual_seed(0)
    toy_x, toy_y = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 6.0])
    x = 3 * torch.rand(12, generator=g)
    y = 2 * x + torch.randn(12, generator=g)
    return [(toy_x, toy_y, 1.0),            # every error negative
            (toy_x, toy_y, 2.5),            # every error positive
            (toy_x, toy_y, 2.0),            # every error exactly zero: sign(0) = 0
            (x, y, 1.7),
            (torch.randn(7, generator=g), torch.randn(7, generator=g), -0.4)]


def check_mae_gradient(mae_gradient) -> float:
    """Check ``mae_gradient(x, y, w)`` = dL/dw of ``mean(|x * w - y|)`` against autograd.

    Cases: the toy data at w = 1, 2.5 and 2 (zero error), and two random data sets.
    Output: points earned (proportional to the cases passed); prints the first failing case.
    """
    return check.function("mae_gradient", mae_gradient, _mae_grad_reference, _mae_grad_cases(),
                          atol=1e-5, rtol=1e-4)


def _lr_reference(x: torch.Tensor) -> torch.Tensor:
    """2 / (d^2 L / dw^2) for L(w) = mean((x * w - y)^2); y does not matter, so y = 0."""
    x = x.double()
    curvature = torch.autograd.functional.hessian(lambda w: ((x * w) ** 2).mean(),
                                                  torch.tensor(1.0, dtype=torch.float64))
    return 2 / curvature


def _lr_cases() -> list[tuple]:
    g = torch.Generator().manual_seed(1)
    return [(torch.tensor([1.0, 2.0, 3.0]),),
            (2 * torch.rand(50, generator=g),),
            (torch.randn(8, generator=g),),
            (torch.tensor([10.0]),)]


def check_max_stable_lr(max_stable_lr) -> float:
    """Check ``max_stable_lr(x)`` = 2 / curvature of the MSE of ``y_hat = x * w`` (via autograd).

    Cases: the toy x = (1, 2, 3) (expected 3/14 = 0.2143), two random x and x = (10,).
    Output: points earned (proportional to the cases passed); prints the first failing case.
    """
    return check.function("max_stable_lr", max_stable_lr, _lr_reference, _lr_cases(),
                          atol=1e-6, rtol=1e-4)


def _ema_reference(values, beta: float) -> np.ndarray:
    from course import plot

    return plot.smooth(np.asarray(values, dtype=float), beta)


def _ema_cases() -> list[tuple]:
    rng = np.random.default_rng(2)
    noisy = list(10 * np.exp(-np.arange(60) / 20) + rng.exponential(1.0, 60))
    return [([1.0, 1.0, 1.0, 1.0], 0.9),                # a constant stays constant when corrected
            ([4.0, 2.0, 8.0], 0.5),
            (noisy, 0.9),
            (np.array(noisy), 0.98),
            (torch.tensor(noisy[:20]), 0.8)]


def check_ema(ema) -> float:
    """Check a bias-corrected EMA ``ema(values, beta)`` against ``course.plot.smooth``.

    Cases: a constant sequence, a short one, a noisy decaying curve (as list, array and tensor) with
    beta in {0.9, 0.5, 0.98, 0.8}. Output: points earned; prints the first failing case.
    """
    return check.function("ema", ema, _ema_reference, _ema_cases(), atol=1e-6, rtol=1e-5)
