"""Graded checks for assignment A3, data and classifiers (16 points, plus 4 for written answers).

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
mnist_training   a graded training run: ``train_mnist(model,      6       accuracy >= 50% 1,
                 train_set, num_epochs, device)`` trains                  >= 85% 2 more, >= 97% 2
                 ``MnistMLP()`` on MNIST's 60,000 training                more (cumulative bands);
                 images for 5 epochs within 60 s of CPU time;             train_mode 1
                 the grader measures the accuracy on the 10,000
                 held-out images whose labels only it holds
===============  ===============================================  ======  =========================

Features of the Titanic dataset, in this order: ``Pclass``, ``Sex`` (1 for female, 0 for male),
``Age`` (missing ages filled with the median age of the DataFrame), ``SibSp``, ``Parch``,
``Fare``; each column standardised with its mean and standard deviation over the DataFrame
(either ``ddof``, numpy's 0 or pandas' 1, is accepted). The label is ``Survived``.

The checks of Q1-Q3 build their own data (Titanic-like frames with the real columns, MNIST-sized
images) and their own small models, so each question is graded on its own and nothing is
downloaded. Q4 trains on the real MNIST from the course's data folder (``course.data.
mnist_arrays``; the tests use the stand-in of ``course.standin``) and is scored by the check
from labels the learner's code never sees (``mnist_training``). The course's solution (Adam, lr 1e-3,
batch 128) scored 97.85% (visible seed) and 97.81% (hidden seed) on real MNIST with 19.5-21.7 s
of CPU time on one thread (README, "A3's graded run").
"""
from __future__ import annotations

import functools
import io
import os

import numpy as np
import torch
import torch.nn.functional as F

from course import check
from course.grading.core import Question, compare, graded, loss_list, plain, shape_of
from course.grading.probes import make_model

__all__ = ["titanic_dataset", "mnist_mlp", "predict_proba", "mnist_training", "titanic_frame"]

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
# Q4: a graded training run
# --------------------------------------------------------------------------------------------
# The held-out split Q4 scores on (MNIST's test files) is left out of the grading kernel's data
# view (``hidden_data`` in ``solutions/A3_data_classifiers/assignment.json``), so no submission can
# read its labels. The check reads them itself and sends only the images.
NUM_EPOCHS = 5
#: The budget of the learner's training function: CPU seconds (the grading kernel runs torch on
#: one thread, so about as many seconds of one core). ``$COURSE_TRAINING_CPU_SECONDS`` overrides it.
TRAINING_CPU_SECONDS = float(os.environ.get("COURSE_TRAINING_CPU_SECONDS", "60"))
#: Wall-clock seconds after which the whole run (reading the data, training, predicting) is
#: stopped, whatever it is doing: a backstop for code that waits instead of computing, generous
#: for a grading machine busy with other kernels. ``$COURSE_TRAINING_TIMEOUT`` overrides it.
TRAINING_TIMEOUT = float(os.environ.get("COURSE_TRAINING_TIMEOUT", "300"))
#: ``(accuracy at least, points of 6)``: cumulative bands, each a part of the question.
BANDS = ((0.50, 1), (0.85, 2), (0.97, 2))
TRAINING_VISIBLE = [0]    # seeds: the model's initialisation and the relabelling of the classes


def band_part(threshold: float) -> str:
    return f"accuracy >= {threshold:.0%}"


def relabelling(seed: int) -> np.ndarray:
    """A permutation of the ten classes without a fixed point: class k is called ``perm[k]``."""
    rng = np.random.default_rng(11000 + seed)
    while True:
        perm = rng.permutation(10)
        if (perm != np.arange(10)).all():
            return perm


@functools.lru_cache(maxsize=4)
def _held_out(root: str):
    """(training labels, held-out images, held-out labels) from the data folder ``root``."""
    from course import data

    _, y_train = data.mnist_arrays(train=True, root=root, images=False, download=False)
    X_test, y_test = data.mnist_arrays(train=False, root=root, download=False)
    return y_train.numpy(), X_test, y_test.numpy()


@graded
def mnist_training(cls, fn, points: float = 6, hidden: bool = False) -> float:
    """A graded training run: ``fn(model, train_set, num_epochs, device)`` trains ``cls()`` on
    MNIST's training images; the check scores the trained model on the held-out images.

    Through the probe ``fit_and_predict``, in the learner's kernel: ``model = cls()`` (seeded,
    handed over in eval mode) is trained by ``fn(model, train_set, NUM_EPOCHS, "cpu")``, where
    ``train_set`` is a ``TensorDataset`` of the 60,000 normalised training images (float32
    (1, 28, 28) each) with labels the check chose; then the model predicts the held-out images
    (MNIST's 10,000 test images) that the check sends. Only the check holds their labels: the
    grading kernel's data view leaves the held-out split out (A3's ``hidden_data``). The classes are
    renamed by a permutation without fixed points (``relabelling``), the same for the training
    labels and the held-out ones, so only a model
    trained by ``fn`` on ``train_set`` can score (not weights trained elsewhere, nor a table of
    MNIST's public test labels).

    Budget: ``NUM_EPOCHS`` passes over the training images (forward calls with autograd on
    count) and ``TRAINING_CPU_SECONDS`` of CPU time for ``fn`` (stopped there); a run over
    either fails the accuracy parts. The whole run is stopped after ``TRAINING_TIMEOUT`` wall
    seconds (then every part fails). Parts: the cumulative accuracy bands of ``BANDS``
    (>= 50%: 1, >= 85%: 2 more, >= 97%: 2 more, of 6) and train_mode (1: every forward call with
    autograd on ran in training mode: ``model.train()``). The hidden run replaces the visible
    seed by the hidden one, so grading trains once.
    """
    parts = {band_part(t): w for t, w in BANDS}
    q = Question("mnist_training", {**parts, "train_mode": 1}, points, hidden)
    try:
        from course import data

        y_train, X_test, y_test = _held_out(str(data.data_dir()))
    except Exception as err:  # noqa: BLE001 - no MNIST: say where it is expected
        q.fail(q.parts, f"MNIST could not be read ({err}); run the cell that loads MNIST first")
        return q.result()
    seeds = (q.hidden_value("a3.TRAINING") if hidden else None) or TRAINING_VISIBLE
    q.counts = [0, len(seeds)] if seeds is not TRAINING_VISIBLE else [len(seeds), 0]
    info = []
    for k, seed in enumerate(seeds, start=1):
        label = f"{'hidden case' if seeds is not TRAINING_VISIBLE else 'case'} {k}"
        perm = relabelling(seed)
        ok, run = q.run("fit_and_predict", fn, cls, seed, torch.as_tensor(perm[y_train]), NUM_EPOCHS,
                        X_test, cpu_seconds=TRAINING_CPU_SECONDS, label=label, timeout=TRAINING_TIMEOUT)
        if not ok:
            info.append(f"the graded run allows {TRAINING_CPU_SECONDS:g} s of CPU time for {NUM_EPOCHS} epochs "
                        f"of training, and stops after {TRAINING_TIMEOUT:g} s whatever happens")
            continue
        n_train, samples = len(y_train), int(run["samples"])
        calls, in_eval = int(run["train_calls"]), int(run["eval_calls"])
        seen = (f"training took {float(run['cpu_seconds']):.1f} s of CPU time of the {TRAINING_CPU_SECONDS:g} s "
                f"allowed ({float(run['seconds']):.1f} s wall) and ran the model on {samples:,} images with "
                f"autograd on ({samples / max(1, n_train):.2f} epochs of {n_train:,})")
        predictions = plain(run["predictions"])
        if run.get("over_cpu"):
            info.append(f"{label}: stopped: {seen}")
            q.fail(parts, f"{label}: over the budget: your function used more than {TRAINING_CPU_SECONDS:g} s of "
                          f"CPU time and was stopped (the course's solution needs about 20 s)")
        elif predictions.shape != y_test.shape:
            q.fail(parts, f"{label}: expected {len(y_test)} predictions, got shape {predictions.shape}")
        elif samples > NUM_EPOCHS * n_train:
            accuracy = float((predictions == perm[y_test]).mean())
            info.append(f"{label}: accuracy {accuracy:.2%} on {len(y_test):,} held-out images; {seen}")
            q.fail(parts, f"{label}: over the budget: your function ran the model on {samples:,} images "
                          f"with autograd on, more than num_epochs={NUM_EPOCHS} passes over the {n_train:,} "
                          f"training images (evaluate under torch.no_grad())")
        else:
            accuracy = float((predictions == perm[y_test]).mean())
            info.append(f"{label}: accuracy {accuracy:.2%} on {len(y_test):,} held-out images; {seen}")
            for threshold, _ in BANDS:
                q.record(band_part(threshold), accuracy >= threshold,
                         f"{label}: accuracy {accuracy:.2%} on the held-out images, below {threshold:.0%}")
        if calls + in_eval == 0:
            q.record("train_mode", False, f"{label}: your function never ran the model on a batch with "
                                          f"autograd on: it did not train")
        else:
            q.record("train_mode", in_eval == 0,
                     f"{label}: {in_eval} of {calls + in_eval} training forward passes ran in eval mode; "
                     f"call model.train() before training (the model arrives in eval mode)")
    score = q.result()
    for line in info:
        print(f"  {line}")
    return score
