"""Checks for lesson 08 (multiple features, the Pima diabetes data).

==========================  ============================================================
check                       the learner writes
==========================  ============================================================
``check_standardize``       ``standardize(X_train, X_test) -> (X_train_std, X_test_std)``
                            with the training set's column mean and std
``check_num_parameters``    ``num_parameters(sizes)``: weights + biases of a stack of
                            ``nn.Linear`` layers, e.g. ``[8, 6, 4, 1] -> 87``
``check_fill_missing``      ``fill_missing(train, test, columns) -> (train, test)``: zeros in
                            ``columns`` replaced by the training median of the non-zero values
==========================  ============================================================

PyTorch (and pandas for the median) are the oracles. Every check prints one line (expected vs
got on failure) and returns the points earned; none raises.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from course import check

__all__ = ["check_standardize", "check_num_parameters", "check_fill_missing"]


# --------------------------------------------------------------------------------------------
# Exercise 1: standardise with the training statistics
# --------------------------------------------------------------------------------------------
def _standardize_reference(X_train, X_test, correction=1, test_stats=False):
    """torch's default std divides by N - 1 (``correction=1``, numpy's ``ddof=1``). The keyword
    arguments reproduce two usual slips: ``correction=0`` (the population std, numpy's default)
    and ``test_stats=True`` (the test set standardised with its own statistics)."""
    mean, std = X_train.mean(dim=0), X_train.std(dim=0, correction=correction)
    if test_stats:
        return (X_train - mean) / std, (X_test - X_test.mean(dim=0)) / X_test.std(dim=0, correction=correction)
    return (X_train - mean) / std, (X_test - mean) / std


def _standardize_cases():
    g = torch.Generator().manual_seed(80)
    cases = []
    for n_train, n_test, d in [(6, 3, 2), (40, 10, 8), (25, 7, 3)]:
        scale = torch.rand(d, generator=g) * 50 + 1
        shift = torch.randn(d, generator=g) * 20
        X_train = torch.randn(n_train, d, generator=g) * scale + shift
        X_test = torch.randn(n_test, d, generator=g) * scale + shift
        cases.append((X_train, X_test))
    return cases


_STANDARDIZE_SLIPS = [
    (dict(correction=0),
     "your numbers match the population std, which divides by N (numpy's np.std default, ddof=0, "
     "or torch's correction=0 / unbiased=False). The exercise asks for X_train.std(dim=0), which "
     "divides by N - 1 (ddof=1)"),
    (dict(test_stats=True),
     "the test set was standardised with its own mean and std; use the training set's for both"),
    (dict(correction=0, test_stats=True),
     "the test set was standardised with its own statistics, and the std divides by N (ddof=0) "
     "instead of N - 1: use X_train.mean(dim=0) and X_train.std(dim=0) for both"),
]


def check_standardize(standardize, points: float = 1.0) -> float:
    """Compare ``standardize(X_train, X_test)`` with ``(X - mean) / std`` where ``mean`` and
    ``std`` are ``X_train.mean(dim=0)`` and ``X_train.std(dim=0)`` (dividing by N - 1, as the
    lesson says); X are float32 (N, D) tensors. Answers that use the population std (ddof=0) or
    the test set's own statistics fail, with a hint that names the slip."""
    score = check.function("standardize", standardize, _standardize_reference,
                           _standardize_cases(), atol=1e-4, rtol=1e-4, points=points)
    if score < points and callable(standardize):
        X_train, X_test = _standardize_cases()[0]          # 6 rows: the two stds differ by about 10 %
        out = check.run_safely(standardize, X_train.clone(), X_test.clone())
        if out.error is None:
            for kwargs, hint in _STANDARDIZE_SLIPS:
                variant = _standardize_reference(X_train, X_test, **kwargs)
                if check._compare_structured(out.value, variant, 1e-4, 1e-4) is None:
                    print(f"  hint: {hint}.")
                    break
    return score


# --------------------------------------------------------------------------------------------
# Exercise 2: count parameters
# --------------------------------------------------------------------------------------------
def _num_parameters_reference(sizes):
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    return sum(p.numel() for layer in layers for p in layer.parameters())


def check_num_parameters(num_parameters, points: float = 1.0) -> float:
    """Compare ``num_parameters(sizes)`` with the parameter count of ``nn.Linear`` layers
    ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` built by PyTorch."""
    cases = [([8, 1],), ([8, 6, 4, 1],), ([3, 5, 2],), ([10, 32, 16, 8, 1],)]
    return check.function("num_parameters", num_parameters, _num_parameters_reference, cases,
                          atol=0, rtol=0, points=points)


# --------------------------------------------------------------------------------------------
# Exercise 3: zeros that mean "not measured"
# --------------------------------------------------------------------------------------------
def _fill_reference(train, test, columns):
    train, test = train.copy(), test.copy()
    for column in columns:
        median = train.loc[train[column] != 0, column].median()
        train[column] = train[column].mask(train[column] == 0, median)
        test[column] = test[column].mask(test[column] == 0, median)
    return train, test


def _fill_cases():
    import pandas as pd

    rng = np.random.default_rng(81)
    cases = []
    for n_train, n_test, columns, zeros_train in [(9, 4, ["glucose"], 2), (31, 11, ["glucose", "bmi"], 10),
                                                  (12, 5, ["glucose"], 2)]:
        def frame(n):
            df = pd.DataFrame({"pregnancies": rng.integers(0, 6, n),
                               "glucose": rng.integers(70, 190, n),   # integers, as in the real file
                               "bmi": np.round(rng.uniform(18, 45, n), 1)})
            return df
        train, test = frame(n_train), frame(n_test)
        for column in columns:
            # cases 1 and 2 leave an odd number of measured values (a single middle value); case 3
            # an even number, whose median (pandas' and numpy's: the mean of the two middle values)
            # is usually not a whole number, although glucose is stored as integers
            zeros = rng.choice(n_train, size=zeros_train, replace=False)
            train.loc[zeros, column] = 0
            test.loc[rng.choice(n_test, size=2, replace=False), column] = 0
        cases.append((train, test, columns))
    return cases


def _as_arrays(result):
    """``(train, test)`` DataFrames -> a tuple of two float arrays the comparison can read."""
    if not isinstance(result, tuple) or len(result) != 2:
        return result
    return tuple(np.asarray(getattr(part, "values", part), dtype=np.float64) for part in result)


def check_fill_missing(fill_missing, points: float = 1.0) -> float:
    """Compare ``fill_missing(train, test, columns) -> (train, test)`` with the reference on three
    pairs of small pandas DataFrames: every 0 in ``columns`` (in both frames) becomes the median
    (``Series.median()``) of the non-zero training values of that column; other columns and values
    stay as they were. Glucose holds integers, and in case 3 its median is not a whole number."""
    if not callable(fill_missing):
        return check.report("fill_missing", 0, 1, points,
                            f"expected a function, got {check.describe(fill_missing)}")
    return check.function("fill_missing", lambda *a: _as_arrays(fill_missing(*a)),
                          lambda *a: _as_arrays(_fill_reference(*a)), _fill_cases(),
                          atol=1e-9, rtol=1e-9, points=points)
