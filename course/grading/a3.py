"""Graded checks for assignment A3, data and classifiers (14 points).

===============  ===============================================  ======  =========================
check            learner's object                                 points  parts
===============  ===============================================  ======  =========================
titanic_dataset  ``TitanicDataset(df)``, a ``Dataset`` over a     5       length 1, items 1,
                 Titanic DataFrame; item ``i`` is ``(x, y)``:             features 2, labels 1
                 x float32 (6,), y float32 (1,)
mnist_mlp        ``MnistMLP()``: (N, 1, 28, 28) -> logits         3       output 1, parameters 1,
                 (N, 10), layers 784-256-128-10 with ReLU                 logits 1
predict_proba    ``predict_proba(model, X) -> probabilities``     2       probabilities 1,
                 (N, 10), in eval mode and without autograd               no_grad 1
train_epoch      ``train_epoch(model, loader, optimizer,          4       returns 1, update 2,
                 device) -> mean batch loss`` (cross-entropy)             learns 1
===============  ===============================================  ======  =========================

Features of the Titanic dataset, in this order: ``Pclass``, ``Sex`` (1 for female, 0 for male),
``Age`` (missing ages filled with the median age of the DataFrame), ``SibSp``, ``Parch``,
``Fare``; each column standardised with its mean and standard deviation over the DataFrame
(either ``ddof``, numpy's 0 or pandas' 1, is accepted). The label is ``Survived``.

The checks build their own data (Titanic-like frames with the real columns, MNIST-sized images
with a learnable pattern) and their own small models, so each question is graded on its own and
nothing is downloaded.
"""
from __future__ import annotations

import copy
import io

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course import check
from course.grading import Question, graded, plain, shape_of

__all__ = ["titanic_dataset", "mnist_mlp", "predict_proba", "train_epoch", "titanic_frame"]

FEATURES = ("Pclass", "Sex", "Age", "SibSp", "Parch", "Fare")


# --------------------------------------------------------------------------------------------
# Q1: a Dataset with preprocessing
# --------------------------------------------------------------------------------------------
def titanic_frame(seed: int, n: int, missing_age: float = 0.2):
    """A Titanic-like DataFrame with the real columns and dtypes (as ``pd.read_csv`` gives them).

    Rows 0 and 1 differ in every feature (no column is constant) and have known ages.
    """
    import pandas as pd

    rng = np.random.default_rng(3000 + seed)
    pclass = rng.choice([1, 2, 3], n, p=[0.25, 0.2, 0.55])
    sex = rng.choice(["male", "female"], n, p=[0.65, 0.35])
    age = np.round(rng.uniform(1, 70, n), 1)
    age[rng.random(n) < missing_age] = np.nan
    sibsp, parch = rng.integers(0, 4, n), rng.integers(0, 3, n)
    fare = np.round(rng.gamma(2.0, 15.0, n) * (4 - pclass), 4)
    for i, (pc, sx, ag, sb, pa, fa) in enumerate([(1, "female", 38.0, 1, 0, 71.2833),
                                                  (3, "male", 22.0, 0, 2, 7.25)][:n]):
        pclass[i], sex[i], age[i], sibsp[i], parch[i], fare[i] = pc, sx, ag, sb, pa, fa
    chance = 0.15 + 0.6 * (sex == "female") + 0.1 * (pclass == 1)
    df = pd.DataFrame({
        "PassengerId": np.arange(1, n + 1), "Survived": (rng.random(n) < chance).astype(int),
        "Pclass": pclass, "Name": [f"Passenger{i}, Mx. Test" for i in range(n)], "Sex": sex,
        "Age": age, "SibSp": sibsp, "Parch": parch, "Ticket": [f"T{i:05d}" for i in range(n)],
        "Fare": fare, "Cabin": [f"C{i}" if rng.random() < 0.25 else np.nan for i in range(n)],
        "Embarked": rng.choice(["S", "C", "Q"], n, p=[0.7, 0.18, 0.12]),
    })
    return pd.read_csv(io.StringIO(df.to_csv(index=False)))


def _titanic_reference(df, ddof: int) -> tuple[np.ndarray, np.ndarray]:
    f = df[list(FEATURES)].copy()
    f["Sex"] = (f["Sex"] == "female").astype(float)
    f["Age"] = f["Age"].fillna(f["Age"].median())
    X = f.to_numpy(dtype=np.float64)
    X = (X - X.mean(axis=0)) / X.std(axis=0, ddof=ddof)
    return X, df["Survived"].to_numpy(dtype=np.float64)[:, None]


def _all_items(ds, n: int):
    return [ds[i] for i in range(n)]


def _one_batch(ds, batch_size: int):
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False)
    return next(iter(loader))


# (seed, rows, share of missing ages)
TITANIC_VISIBLE = [(0, 40, 0.2)]
TITANIC_HIDDEN = [(10, 7, 0.3), (11, 120, 0.5), (12, 25, 0.0)]


@graded
def titanic_dataset(cls, points: float = 5, hidden: bool = False) -> float:
    """Check ``TitanicDataset(df)`` on generated Titanic-like DataFrames.

    ``len(ds)`` must be the number of rows (length, 1/5); ``ds[i]`` a pair ``(x, y)`` of float32
    tensors of shapes (6,) and (1,) that a ``DataLoader`` batches into (B, 6) and (B, 1)
    (items, 1/5); the stacked x must equal the preprocessed features (features, 2/5) and the
    stacked y the ``Survived`` column (labels, 1/5).
    """
    q = Question("TitanicDataset", {"length": 1, "items": 1, "features": 2, "labels": 1},
                 points, hidden)
    for label, (seed, n, missing) in q.cases(TITANIC_VISIBLE, TITANIC_HIDDEN):
        df = titanic_frame(seed, n, missing)
        label = f"{label} (a DataFrame of {n} rows, {int(df['Age'].isna().sum())} ages missing)"
        ok, ds = q.call(cls, df.copy(), label=label, key=cls)
        if not ok:
            continue
        ok, length = q.call(len, ds, label=label, parts=["length"], key=cls, copy_args=False)
        if ok:
            q.record("length", isinstance(length, int) and length == n,
                     f"{label}: len(dataset) should be {n}, got {length!r}")
        ok, items = q.call(_all_items, ds, n, label=label,
                           parts=["items", "features", "labels"], key=cls, copy_args=False)
        if not ok:
            continue
        problem = next(filter(None, (_item_problem(item, i) for i, item in enumerate(items))), None)
        if problem is None:
            ok, batch = q.call(_one_batch, ds, min(4, n), label=label, parts=["items"], key=cls,
                               copy_args=False)
            if ok:
                got = [shape_of(b) for b in batch] if isinstance(batch, (list, tuple)) else None
                want = [(min(4, n), 6), (min(4, n), 1)]
                problem = None if got == want else (
                    f"a DataLoader batch of {min(4, n)} should have shapes {want}, got {got}")
        if not q.record("items", problem is None, f"{label}: {problem}"):
            q.fail(["features", "labels"], f"{label}: {problem}")
            continue
        X = torch.stack([x for x, _ in items])
        y = torch.stack([t for _, t in items])
        reference = [_titanic_reference(df, ddof) for ddof in (1, 0)]
        why = [_why(X, ref[0]) for ref in reference]
        hint = " (a missing age left as NaN?)" if "nan" in str(why[0]) else ""
        q.record("features", None in why, f"{label}: features: {why[0]}{hint}")
        q.compare("labels", y, reference[0][1], label, 1e-6, 1e-6, "labels")
    return q.result()


def _why(got, expected) -> str | None:
    from course.grading import compare

    return compare(got, expected, 1e-5, 1e-4)


def _item_problem(item, i: int) -> str | None:
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        return f"dataset[{i}] should be a pair (x, y), got {check.describe(item)}"
    x, y = item
    for name, t, shape in (("x", x, (6,)), ("y", y, (1,))):
        if not isinstance(t, torch.Tensor):
            return f"in dataset[{i}], {name} should be a torch tensor, got {check.describe(t)}"
        if t.dtype != torch.float32 or tuple(t.shape) != shape:
            return (f"in dataset[{i}], {name} should be a float32 tensor of shape {shape}, "
                    f"got {check.describe(t)}")
    return None


# --------------------------------------------------------------------------------------------
# Q2: the classifier module
# --------------------------------------------------------------------------------------------
MLP_PARAMETERS = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10  # 235,146
MLP_VISIBLE = [(0, 4)]
MLP_HIDDEN = [(10, 1), (11, 16)]


def _logits_and_grads(model, x, y):
    model.zero_grad(set_to_none=True)
    out = model(x)
    F.cross_entropy(out, y).backward()
    return out.detach(), [p.grad for p in model.parameters()]


@graded
def mnist_mlp(cls, points: float = 3, hidden: bool = False) -> float:
    """Check ``MnistMLP()``: images (N, 1, 28, 28) -> logits (N, 10), 784-256-128-10 with ReLU.

    Parts: output (1/3: shape (N, 10), finite), parameters (1/3: exactly 235,146) and logits
    (1/3: returns scores, not probabilities, and every parameter gets a gradient).
    """
    q = Question("MnistMLP", {"output": 1, "parameters": 1, "logits": 1}, points, hidden)
    for label, (seed, N) in q.cases(MLP_VISIBLE, MLP_HIDDEN):
        g = torch.Generator().manual_seed(4000 + seed)
        x = torch.randn(N, 1, 28, 28, generator=g)
        y = torch.randint(0, 10, (N,), generator=g)
        label = f"{label} (x of shape {tuple(x.shape)})"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            ok, model = q.call(cls, label=label, key=cls)
        if not ok:
            continue
        if not isinstance(model, nn.Module):
            q.fail(q.parts, f"{label}: MnistMLP() should be an nn.Module, got {check.describe(model)}")
            continue
        count = sum(p.numel() for p in model.parameters())
        q.record("parameters", count == MLP_PARAMETERS,
                 f"{label}: expected {MLP_PARAMETERS:,} parameters (784-256-128-10), found {count:,}")
        ok, value = q.call(_logits_and_grads, model, x, y, label=label, parts=["output", "logits"],
                           key=cls, copy_args=False)
        if not ok:
            continue
        out, grads = value
        if not q.record("output", shape_of(out) == (N, 10) and bool(torch.isfinite(out).all()),
                        f"{label}: expected finite logits of shape ({N}, 10), got {check.describe(out)}"):
            q.fail(["logits"], f"{label}: the output has the wrong shape")
            continue
        sums = out.double().sum(dim=1)
        probabilities = bool(((out >= 0).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-4)))
        missing = sum(gr is None or not bool(gr.abs().sum() > 0) for gr in grads)
        q.record("logits", not probabilities and missing == 0,
                 f"{label}: " + ("forward returns probabilities (rows sum to 1); return the logits, "
                                 "CrossEntropyLoss applies the softmax itself" if probabilities
                                 else f"{missing} parameter tensor(s) got no gradient"))
    return q.result()


# --------------------------------------------------------------------------------------------
# Q3: predictions
# --------------------------------------------------------------------------------------------
PROBA_VISIBLE = [(0, 5)]
PROBA_HIDDEN = [(10, 1), (11, 32)]


def _proba_model(seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(784, 10))
    return model.train()   # dropout on: only model.eval() gives the right probabilities


@graded
def predict_proba(fn, points: float = 2, hidden: bool = False) -> float:
    """Check ``predict_proba(model, X) -> probabilities`` (N, 10) for images X (N, 1, 28, 28).

    The model is handed over in training mode and contains dropout. Parts: probabilities (1/2:
    ``softmax(model(X))`` in eval mode) and no_grad (1/2: a tensor that does not require grad).
    """
    q = Question("predict_proba", {"probabilities": 1, "no_grad": 1}, points, hidden)
    for label, (seed, N) in q.cases(PROBA_VISIBLE, PROBA_HIDDEN):
        g = torch.Generator().manual_seed(5000 + seed)
        X = torch.randn(N, 1, 28, 28, generator=g)
        model = _proba_model(seed)
        reference = copy.deepcopy(model).eval()
        with torch.no_grad():
            expected = torch.softmax(reference(X), dim=1)
        label = f"{label} (X of shape {tuple(X.shape)})"
        ok, probs = q.call(fn, model, X.clone(), label=label, copy_args=False)
        if not ok:
            continue
        why = _why_proba(probs, expected)
        q.record("probabilities", why is None, f"{label}: {why}")
        q.record("no_grad", isinstance(probs, torch.Tensor) and not probs.requires_grad,
                 f"{label}: expected a tensor that does not require grad (use torch.no_grad()), "
                 f"got {check.describe(probs)}"
                 + (" with requires_grad=True" if getattr(probs, "requires_grad", False) else ""))
    return q.result()


def _why_proba(probs, expected) -> str | None:
    from course.grading import compare

    why = compare(probs, expected, 1e-5, 1e-4)
    if why is None:
        return None
    try:
        rows = plain(probs).sum(axis=1)
        if np.allclose(rows, 1, atol=1e-4):
            why += " (rows sum to 1: did you call model.eval()? The model uses dropout)"
    except Exception:  # noqa: BLE001
        pass
    return why


# --------------------------------------------------------------------------------------------
# Q4: one training epoch
# --------------------------------------------------------------------------------------------
# (seed, number of images, batch size)
EPOCH_VISIBLE = [(0, 128, 32)]
EPOCH_HIDDEN = [(10, 64, 16), (11, 100, 50)]


def patterned_digits(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-shaped, normalised images (n, 1, 28, 28) where class k lights rows ~ 2.8k: learnable."""
    g = torch.Generator().manual_seed(6000 + seed)
    y = torch.arange(n) % 10
    y = y[torch.randperm(n, generator=g)]
    X = torch.rand(n, 1, 28, 28, generator=g) * 0.3
    for k in range(10):
        X[y == k, :, 28 * k // 10: 28 * k // 10 + 2, :] += 0.7
    return (X - 0.2) / 0.3, y


def _epoch_model(seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))


def _reference_epoch(model, loader, optimizer) -> float:
    model.train()
    losses = []
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def _data_loss(model, X, y) -> float:
    with torch.no_grad():
        return F.cross_entropy(model(X), y).item()


def _epochs(fn, model, loader, optimizer, n: int):
    return [fn(model, loader, optimizer, "cpu") for _ in range(n)]


@graded
def train_epoch(fn, points: float = 4, hidden: bool = False) -> float:
    """Check ``train_epoch(model, loader, optimizer, device) -> mean batch loss``.

    One pass over ``loader``: for each batch, move it to ``device``, compute the cross-entropy of
    the model's logits, zero the gradients, backpropagate, step. Parts: returns (1/4: the mean of
    the batch losses as a number), update (2/4: the parameters after the epoch equal the
    reference loop's) and learns (1/4: after 5 more epochs the loss on the data is below half of
    the starting loss). Data: learnable MNIST-shaped images; model and SGD with momentum are
    made by the check.
    """
    q = Question("train_epoch", {"returns": 1, "update": 2, "learns": 1}, points, hidden)
    for label, (seed, n, batch_size) in q.cases(EPOCH_VISIBLE, EPOCH_HIDDEN):
        X, y = patterned_digits(seed, n)
        data = torch.utils.data.TensorDataset(X, y)
        model = _epoch_model(seed)
        reference = copy.deepcopy(model)
        ref_opt = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
        expected = _reference_epoch(reference, torch.utils.data.DataLoader(data, batch_size), ref_opt)
        start = _data_loss(model, X, y)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
        label = f"{label} ({n} images, batch_size={batch_size})"
        ok, loss = q.call(fn, model, loader, optimizer, "cpu", label=label, copy_args=False)
        if not ok:
            continue
        q.compare("returns", loss, expected, label, 1e-5, 1e-4, "returned loss")
        for (name, p), r in zip(model.named_parameters(), reference.parameters()):
            if not q.compare("update", p.detach(), r.detach(), label, 1e-5, 1e-4,
                             f"parameter {name} after one epoch"):
                break
        ok, _ = q.call(_epochs, fn, model, loader, optimizer, 5, label=label, parts=["learns"],
                       key=fn, copy_args=False)
        if ok:
            ok, end = q.call(_data_loss, model, X, y, label=label, parts=["learns"], key=fn,
                             copy_args=False)
        if ok:
            q.record("learns", end < 0.5 * start,
                     f"{label}: the loss went from {start:.4g} to {end:.4g} in 6 epochs; it should "
                     f"fall below half")
    return q.result()
