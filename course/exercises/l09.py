"""Checks for lesson 09 (Dataset and DataLoader, Titanic).

===============================  ========================================================
check                            the learner writes
===============================  ========================================================
``check_iterations_per_epoch``   ``iterations_per_epoch(n, batch_size, drop_last)``: how many
                                 batches one epoch over ``n`` samples has
``check_frame_dataset``          ``__len__`` and ``__getitem__`` of a ``Dataset`` over a pandas
                                 DataFrame: item ``i`` is ``(x (D,), y (1,))``, float32
``check_titanic_classifier``     ``train_and_predict(train_frame, test_frame)``: preprocess,
                                 train and predict 0/1 survival; judged on a split the check
                                 holds out itself, against the "women survived" rule
===============================  ========================================================

``DataLoader`` itself is the oracle for the first two; the held-back labels for the third. Every check prints one line (expected vs
got on failure) and returns the points earned; none raises.
"""
from __future__ import annotations

import numpy as np
import torch

from course import check

__all__ = ["check_iterations_per_epoch", "check_frame_dataset", "check_titanic_classifier"]


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
# Exercise 3: the Titanic classifier, judged on passengers the check holds back
# --------------------------------------------------------------------------------------------
HOLDOUT_SEED = 909        # the check's own split; the lesson's split uses SEED, so they differ
HOLDOUT_FRACTION = 0.25


def holdout_split(frame, seed: int = HOLDOUT_SEED, fraction: float = HOLDOUT_FRACTION):
    """The check's split of ``frame``: ``(train_frame, test_frame, test_labels)``.

    ``test_frame`` has no ``Survived`` column; ``test_labels`` is a 0/1 int array in its row order.
    Both frames keep the passengers' original index labels.
    """
    order = np.random.default_rng(seed).permutation(len(frame))
    n_test = round(fraction * len(frame))
    test, train = frame.iloc[np.sort(order[:n_test])], frame.iloc[np.sort(order[n_test:])]
    return train.copy(), test.drop(columns=["Survived"]), test["Survived"].to_numpy().astype(int)


def _predictions(value, n: int):
    """The learner's predictions as a flat 0/1 float array of length ``n``, or a message why not."""
    if type(value).__module__.startswith("pandas") and hasattr(value, "to_numpy"):
        value = value.to_numpy()                      # a Series of predictions is fine
    try:
        pred = check.to_numbers(value)
    except check.NotANumber as err:
        return f"train_and_predict should return n 0/1 predictions; {err}"
    if pred.size != n or (pred.ndim == 2 and 1 not in pred.shape) or pred.ndim > 2:
        return (f"expected one prediction per held-out passenger, shape ({n},) or ({n}, 1); "
                f"got shape {pred.shape}")
    pred = pred.reshape(-1)
    if not np.isin(pred, (0.0, 1.0)).all():
        bad = pred[~np.isin(pred, (0.0, 1.0))][0]
        return (f"expected 0/1 predictions (1 = survived), got the value {bad:.4g}; threshold "
                f"probabilities at 0.5 or logits at 0")
    return pred


def check_titanic_classifier(train_and_predict, frame=None, points: float = 1.0,
                             timeout: float = 300.0) -> float:
    """Train and evaluate the learner's Titanic classifier on a split the check makes itself.

    Calls ``train_and_predict(train_frame, test_frame)``: ``train_frame`` holds 75 % of the
    passengers with all columns, ``test_frame`` the other 25 % **without** ``Survived``. It must
    return one 0/1 prediction per test passenger (array, tensor, list or Series). Passes when the
    accuracy on the held-back labels is at least that of the rule "women survived, men did not"
    on the same passengers, so "nobody survived" (all zeros) and an untrained model fail.

    ``frame`` defaults to ``course.data.load_titanic()``; tests pass smaller tables.
    """
    name = "titanic classifier"
    if not callable(train_and_predict):
        return check.report(name, 0, 1, points, f"expected a function, got {check.describe(train_and_predict)}")
    if frame is None:
        from course import data

        frame = data.load_titanic()
    train, test, labels = holdout_split(frame)
    women = float(((test["Sex"] == "female").to_numpy().astype(int) == labels).mean())
    nobody = float(max(labels.mean(), 1 - labels.mean()))
    bar = f"the bar is the 'women survived' rule's {women:.1%} ('nobody survived' scores {nobody:.1%})"
    out = check.run_safely(train_and_predict, train.copy(), test.copy(), timeout=timeout)
    if out.error:
        return check.report(name, 0, 1, points, f"train_and_predict(train_frame, test_frame) {out.error}")
    pred = _predictions(out.value, len(test))
    if isinstance(pred, str):
        return check.report(name, 0, 1, points, pred)
    acc = float((pred == labels).mean())
    got = f"{acc:.1%} on {len(test)} passengers the check held back ({int((pred == labels).sum())} right)"
    if acc + 1e-12 < women:
        hint = (" Your predictions are all 0, i.e. 'nobody survived': is the model trained?"
                if not pred.any() else "")
        return check.report(name, 0, 1, points, f"accuracy {got}; {bar}.{hint}")
    return check.report(name, 1, 1, points, notes=[f"accuracy {got}; {bar}"])
