"""Graded checks for assignment A3, data and classifiers (14 points).

===============  ===============================================  ======  =========================
check            learner's object                                 points  parts
===============  ===============================================  ======  =========================
titanic_dataset  ``TitanicDataset(df)``, a ``Dataset`` over a     5       length 1, items 1,
                 Titanic DataFrame; item ``i`` is ``(x, y)``:             features 2, labels 1
                 x float32 (6,), y float32 (1,)                           (values count whatever
                                                                          the dtype or shape)
mnist_mlp        ``MnistMLP()``: (N, 1, 28, 28) -> logits         3       output 1, parameters 1,
                 (N, 10), layers 784-256-128-10 with ReLU                 logits 1 (equal to the
                 between the layers, none on the logits                   spec's formula with
                                                                          weights the check loads)
predict_proba    ``predict_proba(model, X) -> probabilities``     2       probabilities 1,
                 (N, 10), in eval mode and without autograd               no_grad 1
train_epoch      ``train_epoch(model, loader, optimizer,          4       returns 1, update 2,
                 device) -> mean batch loss`` (cross-entropy);            learns 1
                 the model (with dropout) arrives in eval mode
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

import io

import numpy as np
import torch
import torch.nn.functional as F

from course import check
from course.grading.core import Question, compare, graded, loss_list, plain, shape_of
from course.grading.probes import epoch_setup, initial_state, make_model

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


TITANIC_VISIBLE = [(0, 40, 0.2)]


def _features_problem(X: np.ndarray, df, reference) -> str | None:
    """Why the stacked features ``X`` (n, 6) are wrong, or None.

    With the hidden reference: equal to it (either ddof). Without (the student's notebook):
    no NaN, every column standardised, and each column an increasing function of its raw column
    (so the order and the Sex encoding are right) where the age is known.
    """
    if X.ndim != 2 or X.shape[1] != 6:
        return f"expected 6 features per passenger, got an array of shape {X.shape}"
    if reference is not None:
        why = [compare(X, reference(df, ddof)[0], 1e-5, 1e-4) for ddof in (1, 0)]
        hint = " (a missing age left as NaN?)" if "nan" in str(why[0]) else ""
        return None if None in why else f"features: {why[0]}{hint}"
    if np.isnan(X).any():
        return "features: some values are NaN (a missing age left as NaN?)"
    std = X.std(axis=0)
    if not (np.allclose(X.mean(axis=0), 0, atol=1e-4) and
            (np.allclose(std, 1, atol=1e-3) or np.allclose(X.std(axis=0, ddof=1), 1, atol=1e-3))):
        return (f"features: each column should have mean 0 and standard deviation 1; got means "
                f"{np.round(X.mean(axis=0), 3).tolist()} and stds {np.round(std, 3).tolist()}")
    raw = df[list(FEATURES)].assign(Sex=(df["Sex"] == "female").astype(float)).to_numpy(dtype=np.float64)
    known = ~np.isnan(raw).any(axis=1)
    for j, name in enumerate(FEATURES):
        a, b = raw[known, j], X[known, j]
        if a.std() == 0 or np.corrcoef(a, b)[0, 1] < 0.9999:
            return (f"features: column {j} should be {name}" + (" (1 for female, 0 for male)" if name == "Sex" else "")
                    + ", standardised; it does not follow that column")
    return None


def _stack(items, index: int, size: int) -> np.ndarray:
    """Element ``index`` of every item as float64 numbers, each flattened to ``size`` values."""
    rows = [plain(item[index]).reshape(-1) for item in items]
    if any(r.size != size for r in rows):
        raise check.NotANumber(f"expected {size} value(s) per item")
    return np.stack(rows)


@graded
def titanic_dataset(cls, points: float = 5, hidden: bool = False) -> float:
    """Check ``TitanicDataset(df)`` on generated Titanic-like DataFrames.

    ``len(ds)`` must be the number of rows (length, 1/5); ``ds[i]`` a pair ``(x, y)`` of float32
    tensors of shapes (6,) and (1,) that a ``DataLoader`` batches into (B, 6) and (B, 1)
    (items, 1/5); the stacked x must be the preprocessed features (features, 2/5) and the
    stacked y the ``Survived`` column (labels, 1/5). The values earn their points even when an
    item's dtype or shape is off (that costs the items part only).
    """
    q = Question("TitanicDataset", {"length": 1, "items": 1, "features": 2, "labels": 1},
                 points, hidden)
    reference = q.hidden_value("a3.titanic_reference")
    for label, (seed, n, missing) in q.cases(TITANIC_VISIBLE, "a3.TITANIC"):
        df = titanic_frame(seed, n, missing)
        csv = df.to_csv(index=False)
        label = f"{label} (a DataFrame of {n} rows, {int(df['Age'].isna().sum())} ages missing)"
        ok, length = q.run("dataset_len", cls, csv, label=label, parts=["length"])
        if ok:
            q.record("length", isinstance(length, int) and length == n,
                     f"{label}: len(dataset) should be {n}, got {length!r}")
        ok, items = q.run("dataset_items", cls, csv, label=label, parts=["items", "features", "labels"])
        if not ok:
            continue
        problem = next(filter(None, (_item_problem(item, i) for i, item in enumerate(items))), None)
        if problem is None:
            ok, batch = q.run("dataset_batch", cls, csv, min(4, n), label=label, parts=["items"])
            if ok:
                got = [shape_of(b) for b in batch] if isinstance(batch, (list, tuple)) else None
                want = [(min(4, n), 6), (min(4, n), 1)]
                problem = None if got == want else (
                    f"a DataLoader batch of {min(4, n)} should have shapes {want}, got {got}")
        if problem is not None:
            q.record("items", False, f"{label}: {problem}")
        elif ok:
            q.record("items", True)
        pairs = all(isinstance(i, (tuple, list)) and len(i) == 2 for i in items) and len(items) == n
        if not pairs:
            q.fail(["features", "labels"], f"{label}: {problem}")
            continue
        try:
            X, y = _stack(items, 0, 6), _stack(items, 1, 1)
        except Exception as err:  # noqa: BLE001 - not numbers, or the wrong number of them
            q.fail(["features", "labels"], f"{label}: the items could not be read as numbers ({err})")
            continue
        why = _features_problem(X, df, reference)
        q.record("features", why is None, f"{label}: {why}")
        q.compare("labels", y, df["Survived"].to_numpy(dtype=np.float64)[:, None], label, 1e-6, 1e-6, "labels")
    return q.result()


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
MLP_SIZES = (784, 256, 128, 10)
MLP_VISIBLE = [(0, 4)]


def _linear_chain(params: dict) -> list[tuple[str, str]] | None:
    """The (weight, bias) names of Linear layers chaining 784 -> 256 -> 128 -> 10, or None."""
    chain = []
    for n_in, n_out in zip(MLP_SIZES, MLP_SIZES[1:]):
        found = [name for name, t in params.items()
                 if name.endswith("weight") and tuple(t.shape) == (n_out, n_in)]
        bias = [f"{name[:-len('weight')]}bias" for name in found]
        if len(found) != 1 or bias[0] not in params:
            return None
        chain.append((found[0], bias[0]))
    return chain


def _mlp_reference(x, state, chain):
    h = x.reshape(x.shape[0], -1)
    for k, (w, b) in enumerate(chain):
        h = F.linear(h, state[w], state[b])
        if k < len(chain) - 1:
            h = torch.relu(h)
    return h


@graded
def mnist_mlp(cls, points: float = 3, hidden: bool = False) -> float:
    """Check ``MnistMLP()``: images (N, 1, 28, 28) -> logits (N, 10), 784-256-128-10 with ReLU.

    Parts: output (1/3: shape (N, 10), finite), parameters (1/3: exactly 235,146) and logits
    (1/3: with weights of the check's choosing loaded into the learner's layers, the output
    equals ``relu(relu(x W1 + b1) W2 + b2) W3 + b3`` (no activation on the logits; Tanh or a
    missing ReLU give other values) and every parameter gets a gradient). Run in eval mode.
    """
    q = Question("MnistMLP", {"output": 1, "parameters": 1, "logits": 1}, points, hidden)
    for label, (seed, N) in q.cases(MLP_VISIBLE, "a3.MLP"):
        g = torch.Generator().manual_seed(4000 + seed)
        x = torch.randn(N, 1, 28, 28, generator=g)
        label = f"{label} (x of shape {tuple(x.shape)})"
        ok, info = q.run("module_parameters", cls, (), seed, label=label)
        if not ok:
            continue
        params = info["params"]
        count = sum(int(t.numel()) for t in params.values())
        q.record("parameters", count == MLP_PARAMETERS,
                 f"{label}: expected {MLP_PARAMETERS:,} parameters (784-256-128-10), found {count:,}")
        state = {name: torch.randn(t.shape, generator=g) / (t.shape[-1] ** 0.5 if t.dim() > 1 else 4.0)
                 for name, t in params.items()}
        dy = torch.randn(N, 10, generator=g)
        ok, run = q.run("module_run", cls, (), seed, x, dy, state, False, label=label,
                        parts=["output", "logits"])
        if not ok:
            continue
        out = run["out"]
        if not q.record("output", shape_of(out) == (N, 10) and bool(torch.isfinite(torch.as_tensor(plain(out))).all()),
                        f"{label}: expected finite logits of shape ({N}, 10), got {check.describe(out)}"):
            q.fail(["logits"], f"{label}: the output has the wrong shape")
            continue
        sums = plain(out).sum(axis=1)
        if (plain(out) >= 0).all() and np.allclose(sums, 1, atol=1e-4):
            q.record("logits", False, f"{label}: forward returns probabilities (rows sum to 1); return "
                                      f"the logits, CrossEntropyLoss applies the softmax itself")
            continue
        chain = _linear_chain(params)
        if chain is None:
            q.record("logits", False, f"{label}: expected nn.Linear layers 784 -> 256 -> 128 -> 10 "
                                      f"(weights of shapes (256, 784), (128, 256), (10, 128), with biases)")
            continue
        if run.get("backward_error"):
            q.record("logits", False, f"{label}: the backward pass {run['backward_error']}")
        elif q.compare("logits", out, _mlp_reference(x, state, chain), label, 1e-4, 1e-4,
                     "logits (ReLU after the first two layers, nothing after the last)"):
            grads = run.get("grads", {})
            missing = [n for n in params if grads.get(n) is None or not bool(torch.as_tensor(plain(grads[n])).abs().sum() > 0)]
            q.record("logits", not missing, f"{label}: no gradient reached {', '.join(missing)}")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q3: predictions
# --------------------------------------------------------------------------------------------
PROBA_VISIBLE = [(0, 5)]


@graded
def predict_proba(fn, points: float = 2, hidden: bool = False) -> float:
    """Check ``predict_proba(model, X) -> probabilities`` (N, 10) for images X (N, 1, 28, 28).

    The model is handed over in training mode and contains dropout. Parts: probabilities (1/2:
    ``softmax(model(X))`` in eval mode) and no_grad (1/2: a tensor that does not require grad).
    """
    q = Question("predict_proba", {"probabilities": 1, "no_grad": 1}, points, hidden)
    for label, (seed, N) in q.cases(PROBA_VISIBLE, "a3.PROBA"):
        g = torch.Generator().manual_seed(5000 + seed)
        X = torch.randn(N, 1, 28, 28, generator=g)
        state = {"2.weight": torch.randn(10, 784, generator=g) / 28, "2.bias": torch.randn(10, generator=g)}
        with torch.no_grad():
            expected = torch.softmax(make_model(("proba",), state, train=False)(X), dim=1)
        label = f"{label} (X of shape {tuple(X.shape)})"
        ok, run = q.run("predict_function", fn, ("proba",), state, X, label=label)
        if not ok:
            continue
        probs = run["value"]
        why = _why_proba(probs, expected)
        q.record("probabilities", why is None, f"{label}: {why}")
        q.record("no_grad", isinstance(probs, torch.Tensor) and not probs.requires_grad,
                 f"{label}: expected a tensor that does not require grad (use torch.no_grad()), "
                 f"got {check.describe(probs)}"
                 + (" with requires_grad=True" if getattr(probs, "requires_grad", False) else ""))
    return q.result()


def _why_proba(probs, expected) -> str | None:
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
EPOCH_LR, EPOCH_MOMENTUM, EPOCHS = 0.05, 0.9, 6


def patterned_digits(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-shaped, normalised images (n, 1, 28, 28) where class k lights rows ~ 2.8k: learnable."""
    g = torch.Generator().manual_seed(6000 + seed)
    y = torch.arange(n) % 10
    y = y[torch.randperm(n, generator=g)]
    X = torch.rand(n, 1, 28, 28, generator=g) * 0.3
    for k in range(10):
        X[y == k, :, 28 * k // 10: 28 * k // 10 + 2, :] += 0.7
    return (X - 0.2) / 0.3, y


def _data_loss(state, X, y) -> float:
    with torch.no_grad():
        return F.cross_entropy(make_model(("epoch_mlp",), state, train=False)(X), y).item()


@graded
def train_epoch(fn, points: float = 4, hidden: bool = False) -> float:
    """Check ``train_epoch(model, loader, optimizer, device) -> mean batch loss``.

    One pass over ``loader``: put the model in training mode, then for each batch move it to
    ``device``, compute the cross-entropy of the model's logits, zero the gradients,
    backpropagate, step. The model (an MLP with dropout) arrives in eval mode. Parts: returns
    (1/4: the mean of the batch losses as a number), update (2/4: every forward pass ran in
    training mode and the epoch lowered the loss; the hidden run compares the parameters after
    the epoch with the reference loop's) and learns (1/4: after 5 more epochs the loss on the
    data is below half of the starting loss). Data: learnable MNIST-shaped images.
    """
    q = Question("train_epoch", {"returns": 1, "update": 2, "learns": 1}, points, hidden)
    reference = q.hidden_value("a3.reference_epoch")
    for label, (seed, n, batch_size) in q.cases(EPOCH_VISIBLE, "a3.EPOCH"):
        X, y = patterned_digits(seed, n)
        state = initial_state(("epoch_mlp",), seed)
        start = _data_loss(state, X, y)
        label = f"{label} ({n} images, batch_size={batch_size})"
        arch = ("epoch_mlp",)
        ok, run = q.run("train_epochs", fn, arch, state, X, y, batch_size, EPOCH_LR, EPOCH_MOMENTUM,
                        EPOCHS, seed, label=label)
        if not ok:
            continue
        loss, problem = loss_list([run["first"]], 1)
        expected = None
        if reference is not None:
            model, optimizer, loader = epoch_setup(arch, state, X, y, batch_size, EPOCH_LR, EPOCH_MOMENTUM)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                expected_loss = reference(model, loader, optimizer)
            expected = {k: v.detach() for k, v in model.state_dict().items()}
            q.compare("returns", run["first"], expected_loss, label, 1e-5, 1e-4, "returned loss")
        else:
            q.record("returns", problem is None and 0 < float(loss[0]) < 10 * start,
                     f"{label}: expected the mean batch loss as a number, got {check.describe(run['first'])}")
        modes = run.get("modes") or []
        if not q.record("update", bool(modes) and all(modes),
                        f"{label}: the model was in eval mode during training (call model.train() at the "
                        f"start of the epoch: dropout must be on while training)"):
            pass
        elif expected is not None:
            for name, value in expected.items():
                if not q.compare("update", run["state1"].get(name), value, label, 1e-5, 1e-4,
                                 f"parameter {name} after one epoch"):
                    break
        else:
            after = _data_loss(run["state1"], X, y)
            q.record("update", after < start, f"{label}: one epoch did not lower the loss ({start:.4g} -> {after:.4g})")
        end = _data_loss(run["final"], X, y)
        q.record("learns", end < 0.5 * start,
                 f"{label}: the loss went from {start:.4g} to {end:.4g} in {EPOCHS} epochs; it should "
                 f"fall below half")
    return q.result()
