"""Checks for lesson 10 (softmax classifier on MNIST).

Exercises:
    1. ``softmax(fn)``: a numerically stable softmax over the last dimension.
    2. ``cross_entropy(fn)``: mean cross-entropy from raw logits, via log-sum-exp.
    3. ``num_parameters(value)``: how many weights and biases the 784-512-256-128-64-10 net has.

PyTorch is the oracle: ``torch.softmax``, ``torch.nn.functional.cross_entropy`` and a freshly
built ``nn.Sequential`` give the expected answers, so no solution is stored here. Each check
prints one line (expected vs got on failure) and returns the points earned; it never raises.
"""
from __future__ import annotations

import torch

from course import check

LAYER_SIZES = (784, 512, 256, 128, 64, 10)


def _logit_cases(seed: int = 10) -> list[tuple[torch.Tensor]]:
    """Logit batches, small and large: a naive ``exp`` overflows on the large ones."""
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(4, 10, generator=g, dtype=torch.float64),),
        (torch.randn(3, 5, generator=g, dtype=torch.float64) * 10,),
        (torch.tensor([[1000.0, 0.0, -1000.0], [-5.0, -5.0, -5.0]], dtype=torch.float64),),
        (torch.tensor([[800.0, 801.0, 799.0]], dtype=torch.float64),),
    ]


def softmax(fn) -> float:
    """Check ``fn(z)``: (N, C) logits -> (N, C) probabilities, stable for large logits.

    Reference: ``torch.softmax(z, dim=1)``. The last two cases have logits near 1000, where
    ``exp`` overflows to ``inf`` unless the row maximum is subtracted first.
    """
    return check.function("softmax", fn, lambda z: torch.softmax(z, dim=1), _logit_cases(),
                          atol=1e-8, rtol=1e-6)


def cross_entropy(fn) -> float:
    """Check ``fn(z, y)``: (N, C) logits and (N,) int64 labels -> the mean cross-entropy (a scalar).

    Reference: ``torch.nn.functional.cross_entropy(z, y)``; the large-logit cases need log-sum-exp.
    """
    g = torch.Generator().manual_seed(11)
    cases = []
    for (z,) in _logit_cases():
        y = torch.randint(0, z.shape[1], (z.shape[0],), generator=g)
        cases.append((z, y))
    return check.function("cross_entropy", fn, torch.nn.functional.cross_entropy, cases,
                          atol=1e-8, rtol=1e-6)


def mlp(sizes=LAYER_SIZES) -> torch.nn.Sequential:
    """The lesson's fully connected net: Flatten, then Linear + ReLU between ``sizes``."""
    layers: list[torch.nn.Module] = [torch.nn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def num_parameters(value) -> float:
    """Check the number of trainable parameters (weights + biases) of the 784-...-10 net."""
    expected = sum(p.numel() for p in mlp().parameters())
    return check.value("num_parameters", value, expected, atol=0, rtol=0)
