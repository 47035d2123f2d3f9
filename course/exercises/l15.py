"""Checks for lesson 15 (CIFAR-10: the blitz classifier and what it gets wrong).

Exercises:
    1. ``unnormalize(fn)``: ``fn(X, mean, std)`` -> the batch ``X`` (N, 3, H, W) with the
       per-channel normalisation undone, ``X * std + mean``, for display.
    2. ``per_class_accuracy(fn)``: ``fn(y_true, y_pred, num_classes)`` -> (num_classes,) tensor,
       the fraction of each class's images predicted right; ``course.train.per_class_accuracy``
       is the oracle.
    3. ``confusion_matrix(fn)``: ``fn(y_true, y_pred, num_classes)`` -> (C, C) counts with the
       TRUE class as the row and the predicted class as the column, written with
       ``torch.bincount``; ``course.train.confusion_matrix`` is the oracle (it counts another way).

Each check prints one line (expected vs got on failure, with a hint for the usual mistakes:
a mean that lines up with the width instead of the channels, precision instead of accuracy, a
transposed matrix, a ``bincount`` without ``minlength``) and returns 1.0 or 0.0, partial credit
by cases; it never raises.
"""
from __future__ import annotations

import torch

from course import check, data, train


def _labels(n: int, num_classes: int, seed: int, skill: float = 0.6):
    """(y_true, y_pred): every class present in y_true; about ``skill`` of the predictions right."""
    g = torch.Generator().manual_seed(seed)
    y = torch.cat([torch.arange(num_classes), torch.randint(0, num_classes, (n - num_classes,), generator=g)])
    y = y[torch.randperm(n, generator=g)]
    guess = torch.randint(0, num_classes, (n,), generator=g)
    right = torch.rand(n, generator=g) < skill
    return y, torch.where(right, y, guess)


# ------------------------------------------------------------------------------------------
# Exercise 1: undo the normalisation
# ------------------------------------------------------------------------------------------
def lesson_unnormalize(X: torch.Tensor, mean, std) -> torch.Tensor:
    """The lesson's own copy (the notebook uses it until the learner's passes its check):
    (N, C, H, W) normalised batch -> ``X * std + mean`` per channel."""
    mean = torch.as_tensor(mean, dtype=X.dtype, device=X.device).reshape(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=X.dtype, device=X.device).reshape(1, -1, 1, 1)
    return X * std + mean


_unnormalized = lesson_unnormalize


def _normalized_cases():
    """Normalised batches made from uint8 images, so the right answer is the image / 255."""
    g = torch.Generator().manual_seed(15)
    cases = []
    for shape, mean, std in [((2, 3, 5, 7), data.CIFAR10_MEAN, data.CIFAR10_STD),
                             ((1, 3, 32, 32), data.CIFAR10_MEAN, data.CIFAR10_STD),
                             ((2, 3, 4, 3), data.CIFAR10_MEAN, data.CIFAR10_STD),  # W = 3 = C
                             ((3, 3, 6, 6), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]:   # the tutorial's
        images = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
        m = torch.tensor(mean).view(1, 3, 1, 1)
        s = torch.tensor(std).view(1, 3, 1, 1)
        cases.append(((images.float() / 255 - m) / s, tuple(mean), tuple(std)))
    return cases


def unnormalize(fn) -> float:
    """Check ``fn(X, mean, std)`` for X (N, 3, H, W) and mean, std (3 numbers each) -> X * std + mean,
    each channel with its own mean and std."""
    cases = _normalized_cases()
    first = check.run_safely(fn, *cases[0])
    if first.error and "must match the size" in first.error:
        problem = (f"{first.error}. mean and std have 3 entries, one per channel: reshape them to "
                   f"(1, 3, 1, 1) so that they line up with dimension 1 of X, not with the width")
        return check.report("unnormalize", 0, len(cases), 1.0, problem)
    return check.function("unnormalize", fn, _unnormalized, cases, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------------
# Exercise 2: accuracy per class
# ------------------------------------------------------------------------------------------
def _per_class_reference(y_true, y_pred, num_classes):
    acc = train.per_class_accuracy(y_true, y_pred, list(range(num_classes)))
    return torch.tensor(acc.values)


def _precision(y_true, y_pred, num_classes):
    """What a common mistake computes: of the images PREDICTED as c, the fraction that are c."""
    return torch.tensor([float((y_true[y_pred == c] == c).float().mean()) for c in range(num_classes)])


def per_class_accuracy(fn) -> float:
    """Check ``fn(y_true (N,), y_pred (N,), num_classes)`` -> (num_classes,) float tensor: entry c is
    the fraction of the images of true class c that were predicted as c."""
    cases = [(torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 1, 1, 0, 2]), 3),
             (*_labels(200, 10, seed=1), 10),
             (*_labels(50, 4, seed=2, skill=0.3), 4),
             (*_labels(1000, 10, seed=3, skill=0.55), 10)]
    outcome = check.run_safely(fn, *cases[1])
    if outcome.error is None and outcome.value is not None:
        with_precision = check.compare(outcome.value, _precision(*cases[1]), atol=1e-6)
        if with_precision is None:
            return check.report(
                "per_class_accuracy", 0, len(cases), 1.0,
                "this is the precision (of the images PREDICTED as c, how many are c); the accuracy "
                "of class c divides by the number of images whose TRUE class is c")
    return check.function("per_class_accuracy", fn, _per_class_reference, cases, atol=1e-6)


# ------------------------------------------------------------------------------------------
# Exercise 3: the confusion matrix
# ------------------------------------------------------------------------------------------
def _matrix_problem(fn, y_true, y_pred, num_classes) -> str | None:
    expected = train.confusion_matrix(y_true, y_pred, num_classes)
    outcome = check.run_safely(fn, y_true.clone(), y_pred.clone(), num_classes)
    if outcome.error:
        if "invalid for input of size" in outcome.error:
            return (f"{outcome.error}. torch.bincount only counts up to the largest index it sees: "
                    f"pass minlength={num_classes}*{num_classes} so that it always returns "
                    f"{num_classes * num_classes} counts")
        return outcome.error
    why = check.compare(outcome.value, expected, atol=0, rtol=0)
    if why and check.compare(outcome.value, expected.T, atol=0, rtol=0) is None:
        return ("rows and columns are swapped: row i must hold the images whose TRUE class is i "
                "(y_true picks the row, y_pred the column); you returned the transpose")
    return why


def confusion_matrix(fn) -> float:
    """Check ``fn(y_true (N,), y_pred (N,), num_classes)`` -> (C, C) counts, entry [i, j] = the
    number of images of true class i predicted as class j."""
    cases = [(torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 0, 2, 2]), 3),
             (*_labels(300, 10, seed=4), 10),
             (torch.tensor([0, 1, 1, 2, 0]), torch.tensor([1, 1, 2, 2, 0]), 4),   # class 3 never occurs
             (*_labels(40, 5, seed=5, skill=0.2), 5)]
    passed, problem = 0, None
    for i, case in enumerate(cases):
        why = _matrix_problem(fn, *case)
        if why is None:
            passed += 1
        elif problem is None:
            problem = f"case {i + 1} (N = {len(case[0])}, num_classes = {case[2]}): {why}"
    return check.report("confusion_matrix", passed, len(cases), 1.0, problem)
