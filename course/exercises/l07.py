"""Checks for lesson 07 (logistic regression).

==============================  ========================================================
check                           the learner writes
==============================  ========================================================
``check_sigmoid``               ``sigmoid(z)``: the logistic function, element-wise
``check_bce``                   ``bce(y_hat, y)``: mean binary cross-entropy of probabilities
``check_bce_with_logits``       ``bce_with_logits(z, y)``: the same loss computed from logits,
                                stable for any z (every case has a |z| >= 100)
==============================  ========================================================

PyTorch is the oracle (``torch.sigmoid``, ``nn.BCELoss``, ``nn.BCEWithLogitsLoss``). Every check
prints one line (expected vs got on failure) and returns the points earned; none raises.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from course import check

__all__ = ["check_sigmoid", "check_bce", "check_bce_with_logits"]


def _sigmoid_cases():
    g = torch.Generator().manual_seed(70)
    return [
        (torch.tensor([0.0]),),
        (torch.linspace(-6, 6, 13),),
        (torch.randn(4, 3, generator=g) * 3,),
        (torch.tensor([-50.0, -20.0, 20.0, 50.0]),),
    ]


def check_sigmoid(sigmoid, points: float = 1.0) -> float:
    """Compare ``sigmoid(z)`` with ``torch.sigmoid`` on float32 tensors of several shapes,
    including large |z| (tolerance 1e-6)."""
    return check.function("sigmoid", sigmoid, torch.sigmoid, _sigmoid_cases(),
                          atol=1e-6, rtol=1e-5, points=points)


def _bce_reference(y_hat, y):
    return nn.BCELoss()(y_hat, y)


def _bce_cases():
    g = torch.Generator().manual_seed(71)
    cases = [(torch.tensor([0.9, 0.2]), torch.tensor([1.0, 0.0])),
             (torch.tensor([0.5]), torch.tensor([1.0]))]
    for n in (5, 20):
        y_hat = 0.02 + 0.96 * torch.rand(n, 1, generator=g)      # probabilities away from 0 and 1
        y = (torch.rand(n, 1, generator=g) < 0.5).float()
        cases.append((y_hat, y))
    return cases


def check_bce(bce, points: float = 1.0) -> float:
    """Compare ``bce(y_hat, y)`` (mean over all entries) with ``nn.BCELoss()`` on 4 cases;
    ``y_hat`` holds probabilities in (0, 1), ``y`` zeros and ones, same shape."""
    return check.function("bce", bce, _bce_reference, _bce_cases(), atol=1e-5, rtol=1e-5,
                          points=points)


def _bce_logits_reference(z, y):
    return nn.BCEWithLogitsLoss()(z, y)


def _bce_logits_cases():
    """Every case holds at least one logit with |z| >= 100, so a formula that is only right for
    moderate z earns nothing: in float32, exp(z) overflows to inf above z = 88.7 (so
    ``log(1 + exp(z))`` is inf), and sigmoid(z) rounds to exactly 0 or 1 (so ``log(sigmoid(z))``
    is -inf or 0 * -inf = nan)."""
    g = torch.Generator().manual_seed(72)
    z = torch.randn(8, 1, generator=g) * 2
    y = (torch.rand(8, 1, generator=g) < 0.5).float()
    z[0, 0], y[0, 0] = 100.0, 1.0                        # confident and right: loss ~ 0
    z[1, 0], y[1, 0] = -150.0, 1.0                       # confident and wrong: loss 150
    return [
        # -150 with y = 1 (loss 150) also catches nn.BCELoss on sigmoid(z), which clamps log(0) to -100
        (torch.tensor([2.0, -1.0, 100.0, -150.0]), torch.tensor([1.0, 0.0, 1.0, 1.0])),
        (z, y),
        # confident and wrong: the true losses are 40 and 100
        (torch.tensor([40.0, 100.0]), torch.tensor([0.0, 0.0])),
        (torch.tensor([-60.0, 80.0, 30.0, -100.0, 150.0]), torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])),
    ]


def _probe(fn, z: float, y: float):
    """``fn`` on a single logit and label, as a float (None when it fails or returns no number)."""
    out = check.run_safely(fn, torch.tensor([z]), torch.tensor([y]))
    try:
        return float(out.value)
    except Exception:  # noqa: BLE001 - None, a wrong type, ...
        return None


def check_bce_with_logits(bce_with_logits, points: float = 1.0) -> float:
    """Compare ``bce_with_logits(z, y)`` with ``nn.BCEWithLogitsLoss()`` on 4 float32 cases, each
    holding a logit with |z| >= 100 (up to 150). Both ``log(sigmoid(z))`` and the textbook
    ``log(1 + exp(z)) - z*y`` give inf or nan there, so they score 0; a hint says which one."""
    score = check.function("bce_with_logits", bce_with_logits, _bce_logits_reference,
                           _bce_logits_cases(), atol=1e-4, rtol=1e-5, points=points)
    if score < points and callable(bce_with_logits):
        at40, at100 = _probe(bce_with_logits, 40.0, 0.0), _probe(bce_with_logits, 100.0, 0.0)
        if at40 is not None and (not math.isfinite(at40) or abs(at40 - 100.0) < 1e-3):
            print("  hint: for z = 40, y = 0 you got", at40, "but the loss is 40. "
                  "Do not take log(sigmoid(z)); use max(z, 0) - z*y + log(1 + exp(-|z|)).")
        elif at100 is not None and not math.isfinite(at100):
            print("  hint: for z = 100, y = 0 you got", at100, "but the loss is 100: exp(100) "
                  "overflows float32 (its largest number is 3.4e38, exp(88.7)). "
                  "Write log(1 + exp(z)) as max(z, 0) + log(1 + exp(-|z|)).")
    return score
