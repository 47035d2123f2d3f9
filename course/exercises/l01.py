"""Checks for lesson 01 (linear model): the mean absolute error and a broadcast loss grid.

PyTorch is the reference: ``torch.nn.functional.l1_loss`` for the MAE, and ``mse_loss`` applied to
each grid point separately (with ``torch.vmap``) for the loss grid, so no solution is stored here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course import check

__all__ = ["check_mae", "check_loss_grid"]


def _mae_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 6.0])),
            (torch.randn(10, generator=g), torch.randn(10, generator=g)),
            (torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)),
            (torch.tensor([5.0]), torch.tensor([-1.0]))]


def check_mae(mae) -> float:
    """Check ``mae(y_hat, y)`` against ``torch.nn.functional.l1_loss`` on four pairs of tensors.

    Output: points earned (proportional to the cases passed); prints the first failing case.
    """
    return check.function("mae", mae, lambda y_hat, y: F.l1_loss(y_hat, y), _mae_cases())


def _reference_grid(x: torch.Tensor, y: torch.Tensor, W: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """L[i, j] = mse_loss(x * W[i, j] + B[i, j], y), one grid point at a time (via vmap)."""
    one = lambda w, b: F.mse_loss(x * w + b, y)  # noqa: E731
    return torch.vmap(one)(W.reshape(-1), B.reshape(-1)).reshape(W.shape)


def _grid_cases() -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(1)
    cases = []
    x, y = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 6.0])
    W, B = torch.meshgrid(torch.linspace(0, 4, 5), torch.linspace(-2, 2, 7), indexing="ij")
    cases.append((x, y, W, B))                                                  # K != M on purpose
    x = 4 * torch.rand(20, generator=g)
    y = 2 * x + 1 + 0.5 * torch.randn(20, generator=g)
    W, B = torch.meshgrid(torch.linspace(0, 4, 31), torch.linspace(-2, 3, 21), indexing="ij")
    cases.append((x, y, W, B))
    W, B = torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g)          # not a meshgrid
    cases.append((torch.randn(6, generator=g), torch.randn(6, generator=g), W, B))
    return cases


SPEED_GRID = 1000      # the speed case: a SPEED_GRID x SPEED_GRID grid ...
SPEED_POINTS = 10      # ... of MSEs over SPEED_POINTS examples
SPEED_LIMIT = 5.0      # seconds; broadcasting needs well under one, a double loop over 10^6 points far more


def _speed_case() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(2)
    x = 4 * torch.rand(SPEED_POINTS, generator=g)
    y = 2 * x + 1 + 0.5 * torch.randn(SPEED_POINTS, generator=g)
    W, B = torch.meshgrid(torch.linspace(0, 4, SPEED_GRID), torch.linspace(-2, 3, SPEED_GRID), indexing="ij")
    return x, y, W, B


def check_loss_grid(loss_grid) -> float:
    """Check ``loss_grid(x, y, W, B)`` -> (K, M) grid of MSEs of ``y_hat = x * w + b``.

    First a speed case: a 1000 x 1000 grid (10 examples) must finish within ``SPEED_LIMIT`` seconds
    (``check.run_safely``'s time limit). Broadcasting takes a fraction of a second; Python loops over
    a million grid points take far longer, so a loop version scores 0 with a message that says why.
    Then the values, on four cases: the toy data on a 5 x 7 grid, 20 noisy points on a 31 x 21
    grid, random (2, 3) W, B, and the speed case. Output: points earned (proportional to the cases
    passed); prints the first failing case.
    """
    if callable(loss_grid):
        speed = check.run_safely(loss_grid, *_speed_case(), timeout=SPEED_LIMIT)
        slow = (speed.error is not None and speed.error.startswith("took longer")) or speed.seconds > SPEED_LIMIT
        if slow:
            return check.report(
                "loss_grid", 0, 1, 1.0,
                f"a {SPEED_GRID} x {SPEED_GRID} grid ({SPEED_POINTS} examples) took longer than "
                f"{SPEED_LIMIT:g} s, the time limit. A Python loop over the grid runs a million small "
                f"tensor operations; compute all losses at once with broadcasting: "
                f"(K, M, 1) against (N,) gives (K, M, N), then average over the last axis")
    cases = _grid_cases() + [_speed_case()]
    return check.function("loss_grid", loss_grid, _reference_grid, cases, atol=1e-5, rtol=1e-5,
                          timeout=10 * SPEED_LIMIT)
