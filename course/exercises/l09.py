"""Checks for lesson 09 (Dataset and DataLoader, Titanic).

===============================  ========================================================
check                            the learner writes
===============================  ========================================================
``check_iterations_per_epoch``   ``iterations_per_epoch(n, batch_size, drop_last)``: how many
                                 batches one epoch over ``n`` samples has
``check_frame_dataset``          ``__len__`` and ``__getitem__`` of a ``Dataset`` over a pandas
                                 DataFrame: item ``i`` is ``(x (D,), y (1,))``, float32
``check_family_size``            ``add_family_size(frame)``: new columns ``FamilySize`` and
                                 ``IsAlone`` for the Titanic passengers
===============================  ========================================================

``DataLoader`` itself is the oracle for the first two. Every check prints one line (expected vs
got on failure) and returns the points earned; none raises.
"""
from __future__ import annotations

import numpy as np
import torch

from course import check

__all__ = ["check_iterations_per_epoch", "check_frame_dataset", "check_family_size"]


# --------------------------------------------------------------------------------------------
# Exercise 1: iterations per epoch
# --------------------------------------------------------------------------------------------
def _iterations_reference(n, batch_size, drop_last=False):
    loader = torch.utils.data.DataLoader(range(n), batch_size=batch_size, drop_last=drop_last)
    return len(loader)


def check_iterations_per_epoch(iterations_per_epoch, points: float = 1.0) -> float:
    """Compare ``iterations_per_epoch(n, batch_size, drop_last)`` with ``len(DataLoader(...))``
    for several sizes, with and without ``drop_last``."""
    cases = [(712, 32, False), (712, 32, True), (640, 64, False), (640, 64, True),
             (10, 32, False), (10, 32, True), (891, 1, False), (759, 100, False)]
    return check.function("iterations_per_epoch", iterations_per_epoch, _iterations_reference,
                          cases, atol=0, rtol=0, points=points)


# --------------------------------------------------------------------------------------------
# Exercise 2: a Dataset over a DataFrame
# --------------------------------------------------------------------------------------------
def demo_frame(n: int = 7, seed: int = 90):
    """A small DataFrame with three numeric features and a 0/1 target ``label``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.integers(1, 80, n).astype(float),
                         "fare": np.round(rng.uniform(5, 100, n), 2),
                         "pclass": rng.integers(1, 4, n),
                         "name": [f"passenger {i}" for i in range(n)],
                         "label": rng.integers(0, 2, n)})


def _dataset_problem(dataset_class) -> str | None:
    """What is wrong with the learner's Dataset class (``None``: nothing)."""
    frame = demo_frame().sample(frac=1.0, random_state=0)  # a shuffled index, as after a split
    features = ["age", "fare", "pclass"]
    made = check.run_safely(dataset_class, frame.copy(), features, "label")
    if made.error:
        return f"creating {getattr(dataset_class, '__name__', 'the dataset')}(frame, features, 'label') {made.error}"
    ds = made.value
    size = check.run_safely(len, ds)
    if size.error:
        return f"len(dataset) {size.error}"
    if size.value != len(frame):
        return f"len(dataset): expected {len(frame)}, got {size.value!r}"
    X = torch.tensor(frame[features].to_numpy(), dtype=torch.float32)
    y = torch.tensor(frame["label"].to_numpy(), dtype=torch.float32).unsqueeze(1)
    for i in (0, 3, len(frame) - 1):
        item = check.run_safely(lambda: ds[i])
        if item.error:
            return f"dataset[{i}] {item.error}"
        got = item.value
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"dataset[{i}]: expected a tuple (x, y), got {check.describe(got)}"
        for part, value, expected in (("x", got[0], X[i]), ("y", got[1], y[i])):
            if not isinstance(value, torch.Tensor):
                return f"dataset[{i}]: {part} should be a tensor, got {check.describe(value)}"
            if value.dtype != torch.float32 or tuple(value.shape) != tuple(expected.shape):
                return (f"dataset[{i}]: {part} should be a float32 tensor of shape "
                        f"{tuple(expected.shape)}, got {check.describe(value)}")
            why = check.compare(value, expected)
            if why:
                return (f"dataset[{i}] ({part} of row {i} by position): {why}. Items are numbered "
                        f"by position 0..N-1 (frame.iloc[i]); frame.loc[i] looks up the index label")
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    batch = check.run_safely(lambda: next(iter(loader)))
    if batch.error:
        return f"a DataLoader over your dataset {batch.error}"
    xb, yb = batch.value
    if tuple(xb.shape) != (4, len(features)) or tuple(yb.shape) != (4, 1):
        return (f"a DataLoader batch of 4 should have shapes (4, {len(features)}) and (4, 1), "
                f"got {tuple(xb.shape)} and {tuple(yb.shape)}")
    return None


def check_frame_dataset(dataset_class, points: float = 1.0) -> float:
    """Build ``dataset_class(frame, feature_columns, target_column)`` on a 7-row DataFrame and
    check ``len``, a few items (values, float32, shapes (D,) and (1,)) and a DataLoader batch.
    Items are numbered by position 0..N-1, whatever the frame's index is."""
    if not isinstance(dataset_class, type):
        return check.report("FrameDataset", 0, 1, points,
                            f"expected a class, got {check.describe(dataset_class)}")
    problem = _dataset_problem(dataset_class)
    return check.report("FrameDataset", problem is None, 1, points, problem)


# --------------------------------------------------------------------------------------------
# Exercise 3: a new feature
# --------------------------------------------------------------------------------------------
def _family_frame(n: int, seed: int):
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"Pclass": rng.integers(1, 4, n), "SibSp": rng.integers(0, 5, n),
                         "Parch": rng.integers(0, 4, n), "Fare": np.round(rng.uniform(5, 80, n), 2)})


def _family_reference(frame):
    family = frame["SibSp"] + frame["Parch"] + 1
    return family, (family == 1).astype(int)


def _family_columns(result):
    """The learner's frame -> ``(FamilySize, IsAlone)`` as arrays, or a message saying why not."""
    if result is None or not hasattr(result, "columns"):
        return f"add_family_size should return a DataFrame, got {check.describe(result)}"
    missing = [c for c in ("FamilySize", "IsAlone") if c not in result.columns]
    if missing:
        return f"the returned frame has no column {', '.join(map(repr, missing))} (columns: {list(result.columns)})"
    return (np.asarray(result["FamilySize"], dtype=np.float64),
            np.asarray(result["IsAlone"], dtype=np.float64))


def check_family_size(add_family_size, points: float = 1.0) -> float:
    """Compare ``add_family_size(frame)`` on two small frames with ``FamilySize = SibSp + Parch
    + 1`` (the passenger counts too) and ``IsAlone = 1`` where the family size is 1, else 0."""
    if not callable(add_family_size):
        return check.report("add_family_size", 0, 1, points,
                            f"expected a function, got {check.describe(add_family_size)}")
    name, cases, passed, problem = "add_family_size", [_family_frame(6, 91), _family_frame(20, 92)], 0, None
    for k, frame in enumerate(cases, start=1):
        expected = tuple(np.asarray(v, dtype=np.float64) for v in _family_reference(frame))
        out = check.run_safely(add_family_size, frame.copy())
        why = out.error or None
        if why is None:
            got = _family_columns(out.value)
            if isinstance(got, str):
                why = got
            else:
                for column, g, e in zip(("FamilySize", "IsAlone"), got, expected):
                    why = check.compare(g, e)
                    if why:
                        why = f"column {column}: {why}"
                        break
        if why is None:
            passed += 1
        elif problem is None:
            problem = f"case {k} ({len(frame)} passengers): {why}"
    return check.report(name, passed, len(cases), points, problem)
