"""Checks for lesson 16 (CIFAR-10: a fast ResNet and several processes).

Exercises:
    1. ``label_smoothing(fn)``: ``fn(logits, y, eps)`` -> the label-smoothed cross-entropy;
       PyTorch's ``F.cross_entropy(..., label_smoothing=eps)`` is the oracle.
    2. ``random_flip(fn)``: ``fn(X)`` -> the batch with each image mirrored left-right with
       probability 1/2; checked by properties (every image is itself or its mirror, about half
       are mirrored, the choice is random).
    3. ``shard_indices(fn)``: ``fn(n, rank, world_size)`` -> the sample indices one process gets;
       ``torch.utils.data.DistributedSampler(shuffle=False)`` is the oracle.

Each check prints one line (expected vs got on failure) and returns the points earned (1.0 or
0.0, partial credit by cases where a check has several); it never raises.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course import check


# ------------------------------------------------------------------------------------------
# Exercise 1: label smoothing
# ------------------------------------------------------------------------------------------
def _smoothed_reference(logits, y, eps):
    return F.cross_entropy(logits, y, label_smoothing=eps)


def label_smoothing(fn) -> float:
    """Check ``fn(logits (N, C), y (N,), eps)`` -> scalar: the cross-entropy against targets that
    put ``1 - eps + eps / C`` on the true class and ``eps / C`` on every other class."""
    cases = []
    for seed, (n, c, eps) in enumerate([(4, 10, 0.1), (7, 3, 0.2), (5, 10, 0.0), (3, 4, 0.5),
                                        (6, 10, 1.0)]):
        g = torch.Generator().manual_seed(seed)
        cases.append((torch.randn(n, c, generator=g) * 3, torch.randint(0, c, (n,), generator=g), eps))
    return check.function("label_smoothing", fn, _smoothed_reference, cases, atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------------------
# Exercise 2: random horizontal flips
# ------------------------------------------------------------------------------------------
def _flip_problem(X: torch.Tensor, out) -> str | None:
    """Why ``out`` is not a random horizontal flip of the batch ``X`` (None when it is)."""
    if not isinstance(out, torch.Tensor):
        return f"expected a tensor, got {check.describe(out)}"
    if out.shape != X.shape:
        return f"expected shape {tuple(X.shape)}, got {tuple(out.shape)}"
    same = (out == X).flatten(1).all(1)
    mirrored = (out == X.flip(3)).flatten(1).all(1)
    upside_down = (out == X.flip(2)).flatten(1).all(1)
    odd = ~(same | mirrored)
    if odd.any():
        i = int(odd.nonzero()[0])
        if upside_down[odd].all():
            return ("images were flipped upside down (dim 2); a horizontal flip mirrors the "
                    "width, the last dimension: X.flip(3)")
        return (f"image {i} is neither itself nor its mirror image X[{i}].flip(2) "
                f"(maximum difference {float((out[i] - X[i]).abs().max()):.3g})")
    fraction = float(mirrored.float().mean())
    if not 0.35 <= fraction <= 0.65:
        return (f"expected about half of the {len(X)} images mirrored (each with probability 1/2), "
                f"got {fraction:.0%}")
    return None


def random_flip(fn) -> float:
    """Check ``fn(X)`` for X (N, C, H, W) -> (N, C, H, W), each image mirrored with probability 1/2."""
    g = torch.Generator().manual_seed(0)
    X = torch.rand(400, 3, 6, 5, generator=g)
    first = check.run_safely(fn, X.clone())
    problem = first.error or _flip_problem(X, first.value)
    if problem is None:
        second = check.run_safely(fn, X.clone())
        problem = second.error or _flip_problem(X, second.value)
        if problem is None and torch.equal(first.value, second.value):
            problem = ("two calls mirrored exactly the same images: draw a new random choice for "
                       "each image on every call (torch.rand)")
    if problem is None:
        single = check.run_safely(fn, X[:1].clone())
        problem = single.error or (None if isinstance(single.value, torch.Tensor)
                                   and single.value.shape == X[:1].shape
                                   else "a batch of one image did not come back as one image")
    notes = first.warnings[:1]
    return check.report("random_flip", problem is None, 1, 1.0, problem, notes)


# ------------------------------------------------------------------------------------------
# Exercise 3: the shard of one process
# ------------------------------------------------------------------------------------------
def _sampler_reference(n: int, rank: int, world_size: int) -> list[int]:
    from torch.utils.data.distributed import DistributedSampler

    return list(DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=False))


def shard_indices(fn) -> float:
    """Check ``fn(n, rank, world_size)`` -> list of indices, as ``DistributedSampler`` (no shuffle)
    gives them: the list 0..n-1 is padded with its own first entries to a multiple of
    ``world_size``, then rank r takes every world_size-th entry starting at r."""
    cases = [(8, 0, 2), (8, 1, 2), (10, 2, 4), (10, 3, 4), (10, 0, 3), (5, 4, 8), (3, 0, 1)]
    return check.function("shard_indices", fn, _sampler_reference, cases)
