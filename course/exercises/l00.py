"""Checks for lesson 00 (tensors): an in-place ReLU, flattening a batch, the numpy bridge.

Each check prints one line (what was expected, what came out) and returns the points earned;
none of them raises. PyTorch itself is the reference (``torch.relu``, ``torch.flatten``), and the
numpy-bridge answer is computed by running the code the learner was asked to predict.
"""
from __future__ import annotations

import numpy as np
import torch

from course import check

__all__ = ["check_relu_", "check_flatten_batch", "check_bridge", "bridge_scenario"]


def _relu_cases() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0]),
            torch.randn(3, 4, generator=g),
            torch.randn(2, 3, 5, generator=g)]


def check_relu_(relu_) -> float:
    """Check an in-place ReLU ``relu_(x)``: x must change in place and be returned itself.

    Input:  relu_, the learner's function; it gets float tensors of shapes (5,), (3, 4), (2, 3, 5).
    Output: points earned (1.0 or 0.0); prints the first problem found.
    """
    name = "relu_"
    if not callable(relu_):
        return check.condition(name, False, f"expected a function, got {check.describe(relu_)}")
    cases = _relu_cases()
    for i, x in enumerate(cases, start=1):
        original = x.clone()
        expected = torch.relu(original)
        outcome = check.run_safely(relu_, x)
        where = f"case {i} ({check.describe(original)})"
        if outcome.error:
            return check.condition(name, False, f"{where}: your function {outcome.error}")
        if torch.equal(x, original) and (original < 0).any():
            values = check.compare(outcome.value, expected) if outcome.value is not None else "None"
            hint = ("the returned values are right, but" if values is None
                    else f"it returned {check.describe(outcome.value)} and")
            return check.condition(name, False, f"{where}: {hint} x itself did not change. Change x "
                                   "in place (x[mask] = 0, or a method ending in _), then return x")
        why = check.compare(x, expected)
        if why is not None:
            return check.condition(name, False, f"{where}: x after the call is wrong: {why}")
        if outcome.value is not x:
            return check.condition(name, False, f"{where}: x is right, but the function returned "
                                   f"{check.describe(outcome.value)} instead of x itself (return x)")
    return check.condition(name, True, "")


def _flatten_cases() -> list[tuple[torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(4, 1, 28, 28, generator=g),),
            (torch.randn(2, 3, 4, 5, generator=g),),
            (torch.randn(1, 3, 2, 2, generator=g),),                    # batch of one
            (torch.randn(3, 6, 5, 4, generator=g).transpose(1, 3),)]   # (3, 4, 5, 6), not contiguous


def check_flatten_batch(flatten_batch) -> float:
    """Check ``flatten_batch(x)``: (N, C, H, W) -> (N, C*H*W), compared with ``torch.flatten(x, 1)``.

    Cases: shapes (4, 1, 28, 28), (2, 3, 4, 5), (1, 3, 2, 2) and a non-contiguous (3, 4, 5, 6).
    Output: points earned, proportional to the cases passed; prints the first failing case.
    """
    return check.function("flatten_batch", flatten_batch, lambda x: torch.flatten(x, start_dim=1),
                          _flatten_cases(), atol=0, rtol=0)


def bridge_scenario() -> tuple[list[float], list[float]]:
    """Run the code that exercise 3 shows and return the final ``(t, u)`` as lists."""
    a = np.arange(4.0)
    t = torch.from_numpy(a)
    u = torch.tensor(a)
    t.mul_(10)
    u.add_(1)
    a[0] = -1
    return t.tolist(), u.tolist()


def check_bridge(t_after, u_after) -> float:
    """Check the predicted final values of ``t`` (shares memory with ``a``) and ``u`` (a copy).

    Inputs: t_after, u_after: lists (or arrays/tensors) of 4 numbers.
    Output: points earned, one per correct prediction (0, 1 or 2).
    """
    t_expected, u_expected = bridge_scenario()
    return check.total(check.value("t (from_numpy, shares memory with a)", t_after, t_expected),
                       check.value("u (torch.tensor, a copy)", u_after, u_expected))
