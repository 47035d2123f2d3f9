"""Graded checks for assignment A5, normalisation, regularisation and optimizers in numpy
(26 points graded here; the assignment's 3 written answers, 6 points, are graded by hand).

==================  ==============================================  ======  =========================
check               learner's object                                points  parts
==================  ==============================================  ======  =========================
dropout             ``dropout_forward(x, p, mode, seed) -> out,     4       train 2, test 1,
                    cache``, ``dropout_backward(dout, cache)``              backward 1
batchnorm_forward   ``batchnorm_forward(x, gamma, beta, bn_param)   5       train 2, running_mean 1,
                    -> out, cache`` (updates ``bn_param``)                   running_var 1, test 1
batchnorm_backward  ``batchnorm_backward(dout, cache) -> dx,        5       dx 3, dgamma 1, dbeta 1
                    dgamma, dbeta`` (after a train-mode forward)
net_loss            ``net_loss(X, y, params, p, seed, reg) ->       5       loss 2, W1/b1 1,
                    loss, grads``: affine - BN - ReLU - dropout -            gamma/beta 1, W2/b2 1
                    affine - softmax
sgd_momentum        ``sgd_momentum(w, dw, config) -> next_w,        2       steps 1, velocity 1
                    config``
rmsprop             ``rmsprop(w, dw, config) -> next_w, config``    2       steps 1, cache 1
adam                ``adam(w, dw, config) -> next_w, config``       3       steps 2, state 1
==================  ==============================================  ======  =========================

Conventions (PyTorch's, so that ``torch`` is the reference for every value):

* **Dropout.** ``p`` is the probability to *drop* a unit (``nn.Dropout(p)``); inverted dropout:
  in ``mode="train"`` a kept unit is scaled by ``1 / (1 - p)``, ``mode="test"`` is the
  identity. With ``seed`` given, the mask depends only on ``seed`` and ``x.shape``. The train
  part is checked statistically on inputs of 20,000 units or more (the fraction of zeros and
  the mean within 6 standard deviations of ``p`` and of the mean of ``x``), exactly (each kept
  unit equals ``x / (1 - p)``) and for determinism (same seed, same mask; another seed, another
  mask). The backward pass is checked
  exactly against the mask and scale its own forward pass used (``dx = dout * out / x``), so an
  unscaled dropout loses the train part only.
* **Batch normalisation** (``nn.BatchNorm1d``). ``bn_param`` holds ``mode`` ("train" or
  "test"), optional ``eps`` (1e-5), ``momentum`` (0.1), ``running_mean`` (zeros) and
  ``running_var`` (ones). Train mode normalises with the batch mean and the biased batch
  variance and updates ``running = (1 - momentum) * running + momentum * batch_stat`` in
  ``bn_param``, with the *unbiased* variance (``N / (N - 1)`` times the biased one) for
  ``running_var``; test mode normalises with the running statistics and changes nothing.
  Checked over three train steps and one test step against ``nn.BatchNorm1d`` (its buffers are
  fed in before each step, so each step is graded on its own). The backward pass is checked
  against autograd of ``F.batch_norm(training=True)``.
* **The net**: ``scores = dropout(relu(BN(X @ W1 + b1))) @ W2 + b2``, BN in train mode with
  ``eps=1e-5``, dropout ``dropout_forward(., p, "train", seed)``, ``loss = mean cross-entropy +
  reg * (sum(W1**2) + sum(W2**2))``. Reference: autograd with the mask the learner's own
  ``dropout_forward`` draws for ``seed``. As in A1, a part that differs from autograd still
  earns its points when it equals the net built from the learner's own BN and dropout layers
  (a bug in a layer is charged once, in its own question).
* **Optimizers** (``torch.optim``). The probe ``optimizer_steps`` runs 100 updates of the
  learner's optimizer on ``probes.scalar_function`` (a bowl with wiggles). Each iterate is
  compared with the step ``torch.optim`` takes from the learner's previous iterate, its state
  fed the gradients at the learner's iterates; the state in ``config`` at the end with torch's.
  So one wrong step is reported where it happens, and rounding differences cannot grow over the
  run (RMSprop near a minimum is chaotic enough for that to matter).
  ``sgd_momentum`` (``learning_rate`` 1e-2, ``momentum`` 0.9): ``v = momentum * v + dw;
  w -= learning_rate * v`` with ``config["velocity"] = v`` (torch's ``momentum_buffer``; the
  CS231n form ``v = momentum * v - lr * dw`` takes the same steps at a fixed learning rate but
  keeps ``-lr`` times this velocity, and loses the velocity part).
  ``rmsprop`` (``learning_rate`` 1e-2, ``decay_rate`` 0.99, ``epsilon`` 1e-8):
  ``cache = decay_rate * cache + (1 - decay_rate) * dw**2; w -= learning_rate * dw /
  (sqrt(cache) + epsilon)`` (epsilon outside the square root).
  ``adam`` (``learning_rate`` 1e-3, ``beta1`` 0.9, ``beta2`` 0.999, ``epsilon`` 1e-8):
  ``t += 1; m = beta1 * m + (1 - beta1) * dw; v = beta2 * v + (1 - beta2) * dw**2;
  w -= learning_rate * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + epsilon)``, with
  ``m``, ``v``, ``t`` kept in ``config`` (torch's ``exp_avg``, ``exp_avg_sq``, ``step``).
  ``config`` may be ``None`` (all defaults); keys it lacks take their defaults.

A layer's ``cache`` travels from the forward to the backward pass through the grader as plain
data: numpy arrays, numbers, strings, ``None``, tuples, lists and dicts with string keys.

Hidden cases vary the shapes (a batch of two, one feature), ``p`` (0, 0.8), ``momentum``,
``eps`` and the optimizers' hyperparameters. All inputs come from fixed seeds; global random
state is left untouched.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from course import check
from course.grading.core import Question, compare, graded, shapes
from course.grading.wire import Unreadable

__all__ = ["dropout", "batchnorm_forward", "batchnorm_backward", "net_loss", "sgd_momentum", "rmsprop",
           "adam"]

ATOL, RTOL = 1e-6, 1e-4   # forgiving enough for float32 arithmetic, far below any real bug
STAT_SIZE = 10_000        # inputs at least this large get the statistical dropout checks


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(5000 + seed)


def _t(a, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _unreadable(value: Any, depth: int = 0) -> str | None:
    """What in a returned structure (a cache) could not cross to the grader, or None."""
    if isinstance(value, Unreadable):
        return value.what
    if depth < 10 and isinstance(value, (list, tuple)):
        return next((w for w in (_unreadable(v, depth + 1) for v in value) if w), None)
    if depth < 10 and isinstance(value, dict):
        return next((w for w in (_unreadable(v, depth + 1) for v in value.values()) if w), None)
    return None


def _cache_problem(cache: Any, label: str) -> str | None:
    what = _unreadable(cache)
    if what is None:
        return None
    return (f"{label}: the cache holds {what}, which cannot be handed to the backward pass; keep "
            f"caches to numpy arrays, numbers, strings, None, tuples, lists and dicts")


def _numbers(value: Any) -> np.ndarray | None:
    try:
        return np.array(check.to_numbers(value), dtype=np.float64)
    except Exception:  # noqa: BLE001 - the comparison that follows says why
        return None


# --------------------------------------------------------------------------------------------
# Q1: inverted dropout
# --------------------------------------------------------------------------------------------
# (seed, shape, p)
DROPOUT_VISIBLE = [(0, (200, 100), 0.3), (1, (20, 10, 100), 0.6)]


def _dropout_train(q: Question, forward, backward, x, p, seed, dout, label) -> None:
    ok, value = q.run("call", forward, x, p, "train", seed, label=label, parts=["train", "backward"])
    got = q.unpack(value, ["out", "cache"], label) if ok else None
    if got is None:
        return
    out, cache = got
    values = _numbers(out)
    if values is None or values.shape != x.shape:
        q.fail(["train", "backward"], f"{label}: mode='train': out should be an array of x's shape "
                                      f"{x.shape}, got {check.describe(out)}")
        return
    if not np.isfinite(values).all():   # the backward pass cannot be judged on this case
        q.record("train", False, f"{label}: mode='train': out holds NaN or inf (a division by zero?)")
        return
    out = values
    kept = out != 0
    frac = 1.0 - kept.mean()
    train_ok = q.compare("train", out[kept], x[kept] / (1 - p), label, ATOL, RTOL,
                         f"mode='train': the kept units should be x / (1 - p) (inverted dropout "
                         f"scales at training time; p = {p:g} is the probability to drop)")
    if train_ok and (x.size >= STAT_SIZE or p == 0):   # within 6 standard deviations
        train_ok = q.record("train", abs(frac - p) <= 6 * np.sqrt(p * (1 - p) / x.size) + 1e-9,
                            f"{label}: mode='train': {frac:.3f} of the units are zero, expected about "
                            f"p = {p:g} (p is the probability to DROP a unit, as in nn.Dropout(p))")
    if train_ok and x.size >= STAT_SIZE:   # within 6 standard deviations (x is positive, about 1)
        ratio = out.mean() / x.mean()
        train_ok = q.record("train", abs(ratio - 1) <= 6 * np.sqrt(p / (1 - p) / x.size) + 1e-9,
                            f"{label}: mode='train': the mean of out is {ratio:.3f} times the mean of "
                            f"x; inverted dropout keeps it (about 1)")
    if train_ok and 0 < p and x.size >= 100:
        ok1, again = q.run("call", forward, x, p, "train", seed, label=label, parts=["train"])
        ok2, other = q.run("call", forward, x, p, "train", seed + 1, label=label, parts=["train"])
        if ok1 and ok2:
            same = isinstance(again, (tuple, list)) and len(again) == 2 and \
                compare(again[0], out, 0, 0) is None
            differs = isinstance(other, (tuple, list)) and len(other) == 2 and \
                compare(other[0], out, 0, 0) is not None
            q.record("train", same and differs,
                     f"{label}: mode='train': " + (
                         f"a second call with seed={seed} gave another mask; with a seed the mask "
                         f"must depend on the seed only (np.random.default_rng(seed))" if not same else
                         f"seed={seed + 1} gave the same mask as seed={seed}; use the seed"))
    # the backward pass, against the mask and scale this forward pass used
    problem = _cache_problem(cache, label)
    if problem:
        q.record("backward", False, problem)
        return
    expected = np.where(kept, dout * np.divide(out, x, out=np.zeros_like(x), where=kept), 0.0)
    ok, dx = q.run("call", backward, dout, cache, label=label, parts=["backward"])
    if ok:
        q.compare("backward", dx, expected, label, ATOL, RTOL,
                  "dropout_backward after mode='train' (expected dout * mask / (1 - p), with the "
                  "mask and scale of your forward pass)")


@graded
def dropout(forward, backward, points: float = 4, hidden: bool = False) -> float:
    """Check inverted dropout: ``dropout_forward(x, p, mode, seed) -> (out, cache)`` and
    ``dropout_backward(dout, cache) -> dx``; x of any shape, ``0 <= p < 1`` the probability to
    drop a unit, mode ``"train"`` or ``"test"``.

    Parts: train (2/4: zeros about ``p`` of the units, kept units scaled by ``1 / (1 - p)``, the
    mean kept, the same mask for the same seed), test (1/4: out is x and dx is dout) and backward
    (1/4: ``dx = dout * mask / (1 - p)`` for the mask of the forward pass).
    """
    q = Question("dropout", {"train": 2, "test": 1, "backward": 1}, points, hidden)
    for label, (seed, shape, p) in q.cases(DROPOUT_VISIBLE, "a5.DROPOUT"):
        rng = _rng(seed)
        x = rng.uniform(0.5, 1.5, size=shape)   # positive, away from 0: zeros are dropped units
        dout = rng.standard_normal(shape)
        label = f"{label} ({shapes(x=x, p=p)})"
        _dropout_train(q, forward, backward, x, p, 100 + seed, dout, label)
        ok, value = q.run("call", forward, x, p, "test", 100 + seed, label=label, parts=["test"])
        got = q.unpack(value, ["out", "cache"], label) if ok else None
        if got is None or not q.compare("test", got[0], x, label, ATOL, RTOL,
                                        "mode='test' must return x unchanged"):
            continue
        problem = _cache_problem(got[1], label)
        if problem:
            q.record("test", False, problem)
            continue
        ok, dx = q.run("call", backward, dout, got[1], label=label, parts=["test"])
        if ok:
            q.compare("test", dx, dout, label, ATOL, RTOL, "dropout_backward after mode='test' "
                                                          "(expected dout unchanged)")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q2: batch normalisation, forward
# --------------------------------------------------------------------------------------------
# (seed, N, D, eps, momentum); eps None: bn_param holds only "mode" at first (all defaults)
BN_VISIBLE = [(0, 8, 5, None, None), (1, 16, 3, 1e-2, 0.3)]


def _bn_batches(rng: np.random.Generator, N: int, D: int, k: int) -> list[np.ndarray]:
    scale, shift = rng.uniform(0.5, 3.0, D), rng.normal(0.0, 2.0, D)
    return [rng.standard_normal((N, D)) * scale + shift for _ in range(k)]


def _bn_module(D: int, eps, momentum, gamma, beta) -> torch.nn.BatchNorm1d:
    bn = torch.nn.BatchNorm1d(D, eps=1e-5 if eps is None else eps,
                              momentum=0.1 if momentum is None else momentum).double()
    with torch.no_grad():
        bn.weight.copy_(_t(gamma))
        bn.bias.copy_(_t(beta))
    return bn


def _bn_param(mode: str, eps, momentum, bn=None) -> dict:
    param = {"mode": mode}
    if eps is not None:
        param["eps"] = eps
    if momentum is not None:
        param["momentum"] = momentum
    if bn is not None:
        param["running_mean"] = bn.running_mean.numpy().copy()
        param["running_var"] = bn.running_var.numpy().copy()
    return param


def _after(q: Question, run: Any, label: str, parts: list[str]) -> tuple[Any, dict] | None:
    """``(out, bn_param as the learner left it)`` from a ``call_with_args`` run, else None."""
    got = q.unpack(run.get("value") if isinstance(run, dict) else None, ["out", "cache"], label)
    if got is None:
        return None
    param = run["args"][3] if isinstance(run.get("args"), list) and len(run["args"]) == 4 else None
    if not isinstance(param, dict):
        q.fail(parts, f"{label}: bn_param is no longer a dict after the call")
        return None
    return got[0], param


@graded
def batchnorm_forward(fn, points: float = 5, hidden: bool = False) -> float:
    """Check ``batchnorm_forward(x, gamma, beta, bn_param) -> (out, cache)`` against
    ``nn.BatchNorm1d``: x (N, D), gamma and beta (D,), ``bn_param`` a dict (see the module
    docstring) whose running statistics train mode updates in place.

    Each case runs three train steps (the module's running statistics are fed in before each
    step; in the first case the first step gets ``{"mode": "train"}`` only, so the defaults
    count) and one test step. Parts: train (2/5: the normalised output), running_mean (1/5),
    running_var (1/5: the unbiased batch variance, with momentum), test (1/5: normalised with
    the running statistics, which stay unchanged).
    """
    q = Question("batchnorm_forward", {"train": 2, "running_mean": 1, "running_var": 1, "test": 1},
                 points, hidden)
    for label, (seed, N, D, eps, momentum) in q.cases(BN_VISIBLE, "a5.BN"):
        rng = _rng(seed)
        gamma, beta = rng.normal(1.0, 0.5, D), rng.normal(0.0, 1.0, D)
        bn = _bn_module(D, eps, momentum, gamma, beta)
        if eps is not None:   # start from running statistics of the check's choosing
            with torch.no_grad():
                bn.running_mean.copy_(_t(rng.normal(0.0, 1.0, D)))
                bn.running_var.copy_(_t(rng.uniform(0.5, 2.0, D)))
        xs = _bn_batches(rng, N, D, 4)
        label = f"{label} ({shapes(x=xs[0], eps=1e-5 if eps is None else eps, momentum=0.1 if momentum is None else momentum)})"
        for step, x in enumerate(xs[:3], start=1):
            fresh = eps is None and step == 1
            param = _bn_param("train", eps, momentum, None if fresh else bn)
            bn.train()
            with torch.no_grad():
                expected = bn(_t(x)).numpy()
            where = f"{label}, train step {step}" + (" (bn_param = {'mode': 'train'}: the defaults)" if fresh else "")
            ok, run = q.run("call_with_args", fn, x, gamma, beta, param, label=where,
                            parts=["train", "running_mean", "running_var"])
            got = _after(q, run, where, ["train", "running_mean", "running_var"]) if ok else None
            if got is None:
                break
            out, after = got
            q.compare("train", out, expected, where, ATOL, RTOL, "out")
            for name, buffer in (("running_mean", bn.running_mean), ("running_var", bn.running_var)):
                what = "unbiased batch variance" if name == "running_var" else "batch mean"
                if name not in after:
                    q.record(name, False, f"{where}: bn_param has no {name!r} after a train step")
                else:
                    q.compare(name, after[name], buffer.numpy(), where, ATOL, RTOL,
                              f"bn_param[{name!r}] (expected (1 - momentum) * running + momentum * {what})")
        bn.eval()
        x = xs[3]
        with torch.no_grad():
            expected = bn(_t(x)).numpy()
        param = _bn_param("test", eps, momentum, bn)
        where = f"{label}, test mode"
        ok, run = q.run("call_with_args", fn, x, gamma, beta, param, label=where, parts=["test"])
        got = _after(q, run, where, ["test"]) if ok else None
        if got is None:
            continue
        out, after = got
        if q.compare("test", out, expected, where, ATOL, RTOL,
                     "out (normalised with bn_param's running statistics, not the batch's)"):
            for name in ("running_mean", "running_var"):
                q.compare("test", after.get(name), param[name], where, 0, 0,
                          f"bn_param[{name!r}] (test mode must not change it)")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q3: batch normalisation, backward
# --------------------------------------------------------------------------------------------
# (seed, N, D, eps)
BNB_VISIBLE = [(0, 6, 4, 1e-5), (1, 10, 7, 1e-2)]


@graded
def batchnorm_backward(forward, backward, points: float = 5, hidden: bool = False) -> float:
    """Check ``batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)`` after a train-mode
    ``batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": eps})``, against autograd of
    ``F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)``.

    Shapes: dout and dx (N, D), dgamma and dbeta (D,). Parts: dx 3/5 (through the batch mean
    and variance too), dgamma 1/5, dbeta 1/5.
    """
    q = Question("batchnorm_backward", {"dx": 3, "dgamma": 1, "dbeta": 1}, points, hidden)
    for label, (seed, N, D, eps) in q.cases(BNB_VISIBLE, "a5.BNB"):
        rng = _rng(seed)
        x = _bn_batches(rng, N, D, 1)[0]
        gamma, beta, dout = rng.normal(1.0, 0.5, D), rng.normal(0.0, 1.0, D), rng.standard_normal((N, D))
        tx, tg, tb = _t(x, True), _t(gamma, True), _t(beta, True)
        (F.batch_norm(tx, None, None, tg, tb, training=True, eps=eps) * _t(dout)).sum().backward()
        label = f"{label} ({shapes(x=x, eps=eps)})"
        ok, value = q.run("call", forward, x, gamma, beta, {"mode": "train", "eps": eps}, label=label)
        got = q.unpack(value, ["out", "cache"], label) if ok else None
        if got is None:
            continue
        problem = _cache_problem(got[1], label)
        if problem:
            q.fail(q.parts, problem)
            continue
        ok, value = q.run("call", backward, dout, got[1], label=label)
        grads = q.unpack(value, ["dx", "dgamma", "dbeta"], label) if ok else None
        if grads is not None:
            for name, g, ref in zip(("dx", "dgamma", "dbeta"), grads, (tx.grad, tg.grad, tb.grad)):
                q.compare(name, g, ref.numpy(), label, ATOL, RTOL, name)
    return q.result()


# --------------------------------------------------------------------------------------------
# Q4: the net
# --------------------------------------------------------------------------------------------
# (seed, N, D, H, C, p, reg)
NET_VISIBLE = [(0, 6, 5, 7, 3, 0.5, 0.0), (1, 10, 4, 8, 5, 0.3, 0.05)]
NET_KEYS = ("W1", "b1", "gamma", "beta", "W2", "b2")
NET_PARTS = {"W1": "W1, b1", "b1": "W1, b1", "gamma": "gamma, beta", "beta": "gamma, beta",
             "W2": "W2, b2", "b2": "W2, b2"}
BN_EPS = 1e-5


def _net_inputs(seed: int, N: int, D: int, H: int, C: int):
    rng = _rng(seed)
    X = rng.standard_normal((N, D))
    y = rng.integers(0, C, size=N)
    params = {"W1": rng.standard_normal((D, H)) * 0.5, "b1": rng.standard_normal(H) * 0.5,
              "gamma": rng.normal(1.0, 0.3, H), "beta": rng.normal(0.0, 0.5, H),
              "W2": rng.standard_normal((H, C)) * 0.5, "b2": rng.standard_normal(C) * 0.5}
    # keep the batch-normalised pre-activations away from ReLU's kink at 0
    h = X @ params["W1"] + params["b1"]
    xhat = (h - h.mean(axis=0)) / np.sqrt(h.var(axis=0) + BN_EPS)
    for _ in range(20):
        near = np.abs(xhat * params["gamma"] + params["beta"]).min(axis=0) < 0.02
        if not near.any():
            break
        params["beta"] = params["beta"] + np.where(near, 0.037, 0.0)
    return X, y, params


def _torch_net(X, y, params: dict, scale: np.ndarray, reg: float) -> dict:
    """Loss and gradients of the net with the dropout ``scale`` (mask / (1 - p)), by autograd."""
    tp = {k: _t(v, True) for k, v in params.items()}
    h = _t(X) @ tp["W1"] + tp["b1"]
    a = torch.relu(F.batch_norm(h, None, None, tp["gamma"], tp["beta"], training=True, eps=BN_EPS))
    scores = (a * _t(scale)) @ tp["W2"] + tp["b2"]
    loss = F.cross_entropy(scores, torch.as_tensor(y)) + reg * ((tp["W1"] ** 2).sum() + (tp["W2"] ** 2).sum())
    loss.backward()
    return {"loss": loss.item(), **{k: tp[k].grad.numpy() for k in NET_KEYS}}


def _own_layers(q: Question, layers: tuple, X, y, params: dict, p: float, seed: int, reg: float,
                label: str) -> dict | None:
    """The net built from the learner's ``batchnorm_forward``, ``batchnorm_backward``,
    ``dropout_forward`` and ``dropout_backward`` (run through probes) and the check's own affine,
    ReLU and softmax loss: ``{"loss", "W1", ...}``, or None when a layer fails."""
    bf, bb, df, db = layers

    def run(fn, *args, n=None):
        """The learner's layer on these inputs: its value (n: a tuple of n results), else LookupError."""
        ok, value = q.run("call", fn, *args, label=label, parts=[])
        if not ok or _unreadable(value) or (n and (not isinstance(value, (tuple, list)) or len(value) != n)):
            raise LookupError
        return value

    try:
        W1, b1, gamma, beta, W2, b2 = (params[k] for k in NET_KEYS)
        h = X @ W1 + b1
        bn_out, bn_cache = run(bf, h, gamma, beta, {"mode": "train"}, n=2)
        bn_out = _numbers(bn_out)
        a = np.maximum(bn_out, 0)
        d, d_cache = run(df, a, p, "train", seed, n=2)
        d = _numbers(d)
        scores = _t(d @ W2 + b2, True)
        loss = F.cross_entropy(scores, torch.as_tensor(y))
        loss.backward()
        dscores = scores.grad.numpy()
        da = _numbers(run(db, dscores @ W2.T, d_cache))
        dh, dgamma, dbeta = (_numbers(v) for v in run(bb, da * (bn_out > 0), bn_cache, n=3))
        return {"loss": loss.item() + reg * float((W1 ** 2).sum() + (W2 ** 2).sum()),
                "W1": X.T @ dh + 2 * reg * W1, "b1": dh.sum(axis=0), "gamma": dgamma, "beta": dbeta,
                "W2": d.T @ dscores + 2 * reg * W2, "b2": dscores.sum(axis=0)}
    except Exception:  # noqa: BLE001 - a layer that fails or returns the wrong structure
        return None


@graded
def net_loss(fn, *layers, points: float = 5, hidden: bool = False) -> float:
    """Check ``net_loss(X, y, params, p, seed, reg) -> (loss, grads)`` against autograd.

    The net: ``h = X @ W1 + b1``, batch norm in train mode (``gamma``, ``beta``, eps 1e-5),
    ReLU, inverted dropout ``dropout_forward(., p, "train", seed)``, ``scores = . @ W2 + b2``;
    ``loss = mean cross-entropy + reg * (sum(W1**2) + sum(W2**2))``. X (N, D), y (N,),
    ``params`` W1 (D, H), b1 (H,), gamma (H,), beta (H,), W2 (H, C), b2 (C,); ``grads`` has the
    same keys and shapes. Parts: loss 2/5, W1 and b1 1/5, gamma and beta 1/5, W2 and b2 1/5.

    The reference uses the dropout mask that the learner's ``dropout_forward`` draws for this
    seed (it is called on ones of shape (N, H)). ``layers``: the learner's ``batchnorm_forward,
    batchnorm_backward, dropout_forward, dropout_backward``; a part that differs from autograd
    still earns its points when it equals the net built from these layers.
    """
    q = Question("net_loss", {"loss": 2, "W1, b1": 1, "gamma, beta": 1, "W2, b2": 1}, points, hidden)
    dropout_fwd = layers[2] if len(layers) == 4 else None
    for label, (seed, N, D, H, C, p, reg) in q.cases(NET_VISIBLE, "a5.NET"):
        X, y, params = _net_inputs(seed, N, D, H, C)
        dseed = 200 + seed
        label = f"{label} ({shapes(X=X, W1=params['W1'], W2=params['W2'], p=p, seed=dseed, reg=reg)})"
        mask = None
        if dropout_fwd is not None:
            ok, value = q.run("call", dropout_fwd, np.ones((N, H)), p, "train", dseed, label=label)
            if ok and isinstance(value, (tuple, list)) and len(value) == 2:
                ones = _numbers(value[0])
                if ones is not None and ones.shape == (N, H):
                    mask = ones != 0
            if mask is None and ok:
                q.fail(q.parts, f"{label}: your dropout_forward(np.ones(({N}, {H})), {p}, 'train', "
                                f"{dseed}) must return (out, cache) with out of shape ({N}, {H}): the "
                                f"check takes its dropout mask from there")
        if mask is None:
            if dropout_fwd is None:
                q.fail(q.parts, f"{label}: the check needs your dropout_forward to know the mask")
            continue
        reference = _torch_net(X, y, params, mask / (1 - p), reg)
        ok, value = q.run("call", fn, X, y, params, p, dseed, reg, label=label)
        answers = q.loss_and_grads(value, NET_KEYS, label, NET_PARTS) if ok else None
        if answers is None:
            continue
        own = None
        for k, answer in answers.items():
            why = compare(answer, reference[k], ATOL, RTOL)
            if why is not None and len(layers) == 4:
                own = own or _own_layers(q, layers, X, y, params, p, dseed, reg, label) or {}
                if k in own and compare(answer, own[k], ATOL, RTOL) is None:
                    why = None   # right for the layers it was built from: charged in their questions
            what = "loss" if k == "loss" else f"grads[{k!r}]"
            q.record(NET_PARTS.get(k, k), why is None, f"{label}: {what}: {why}")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q5: optimizers
# --------------------------------------------------------------------------------------------
STEPS = 100
# (seed, shape, config); config None: the defaults
SGD_VISIBLE = [(0, (5,), None), (1, (3, 4), {"learning_rate": 0.05, "momentum": 0.5})]
RMSPROP_VISIBLE = [(0, (5,), None), (1, (3, 4), {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 0.1})]
ADAM_VISIBLE = [(0, (5,), None), (1, (3, 4), {"learning_rate": 0.05, "beta1": 0.8, "beta2": 0.99,
                                              "epsilon": 1e-4})]

DEFAULTS = {"sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
            "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
            "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}}


def _problem(seed: int, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients of ``probes.scalar_function`` (a bowl: d > 0, with wiggles) and a start."""
    rng = _rng(seed)
    c, d = rng.standard_normal(shape), rng.uniform(0.5, 2.0, shape)
    return c, d, rng.normal(0.0, 2.0, shape)


def _torch_optimizer(name: str, params, h: dict):
    if name == "sgd_momentum":
        return torch.optim.SGD(params, lr=h["learning_rate"], momentum=h["momentum"])
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=h["learning_rate"], alpha=h["decay_rate"], eps=h["epsilon"])
    return torch.optim.Adam(params, lr=h["learning_rate"], betas=(h["beta1"], h["beta2"]), eps=h["epsilon"])


def _reference(name: str, c, d, ws: np.ndarray, h: dict) -> tuple[np.ndarray, dict]:
    """``torch.optim``'s step from each of the learner's iterates ``ws[k]`` (its state fed the
    gradients at those iterates, as the learner's optimizer was) and its final state, named as
    the learner's config names it. Row ``k + 1`` is what ``ws[k + 1]`` should be; row 0 is ``ws[0]``.

    Checking each step from the learner's own previous iterate keeps one wrong step from
    spoiling the rest, and rounding differences cannot grow over the 100 steps."""
    w = _t(ws[0], True)
    opt = _torch_optimizer(name, [w], h)
    tc, td = _t(c), _t(d)
    expected = [ws[0]]
    for k in range(len(ws) - 1):
        with torch.no_grad():   # the gradient of sum(sin(w) c) + sum(w**2 d) / 2 + tanh(sum(w))
            w.copy_(_t(ws[k]))
            w.grad = tc * torch.cos(w) + td * w + (1 - torch.tanh(w.sum()) ** 2)
        opt.step()
        expected.append(w.detach().numpy().copy())
    state = opt.state[w]
    if name == "sgd_momentum":   # torch keeps no buffer for momentum 0: v is then the last gradient
        buffer = state.get("momentum_buffer")
        final = {"velocity": (w.grad if buffer is None else buffer).numpy().copy()}
    elif name == "rmsprop":
        final = {"cache": state["square_avg"].numpy().copy()}
    else:
        final = {"m": state["exp_avg"].numpy().copy(), "v": state["exp_avg_sq"].numpy().copy(),
                 "t": float(state["step"])}
    return np.stack(expected), final


def _optimizer(name: str, fn, visible, parts: dict, state_part: str, points: float, hidden: bool) -> float:
    q = Question(name, parts, points, hidden)
    for label, (seed, shape, config) in q.cases(visible, f"a5.{name.upper()}"):
        c, d, w0 = _problem(seed, shape)
        h = {**DEFAULTS[name], **(config or {})}
        given = "config=None (the defaults)" if config is None else f"config={config}"
        label = f"{label} (w {tuple(shape)}, {given}, {STEPS} steps)"
        ok, run = q.run("optimizer_steps", fn, c, d, w0, None if config is None else dict(config), STEPS,
                        label=label)
        if not ok:
            continue
        got = _numbers(run.get("ws")) if isinstance(run, dict) else None
        if got is None or got.shape != (STEPS + 1, *shape):
            q.fail(q.parts, f"{label}: next_w should be an array of shape {tuple(shape)} at every step")
            continue
        expected, final = _reference(name, c, d, got, h)
        with np.errstate(invalid="ignore"):
            right = np.abs(got - expected) <= 1e-7 + 1e-6 * np.abs(expected)   # NaN: wrong
        bad = np.flatnonzero(~right.reshape(STEPS + 1, -1).all(axis=1))
        if len(bad):
            k = int(bad[0])
            q.record("steps", False, f"{label}: w after step {k}" + (f" (from your w after step {k - 1})" if k > 1 else "")
                                     + f": {compare(got[k], expected[k], 1e-7, 1e-6)}"
                                     + (" (the steps before were right)" if k > 1 else ""))
        else:
            q.record("steps", True)
        last = run.get("config")
        if not isinstance(last, dict):
            q.record(state_part, False, f"{label}: the config returned after step {STEPS} is not a dict "
                                        f"(got {check.describe(last)})")
            continue
        for key, value in final.items():
            if key not in last:
                q.record(state_part, False, f"{label}: config has no {key!r} after {STEPS} steps")
                break
            if not q.compare(state_part, last[key], value, label, 1e-7, 1e-6,
                             f"config[{key!r}] after {STEPS} steps (for the gradients at your iterates)"):
                break
    return q.result()


@graded
def sgd_momentum(fn, points: float = 2, hidden: bool = False) -> float:
    """Check ``sgd_momentum(w, dw, config) -> (next_w, config)`` against ``torch.optim.SGD(momentum=...)``.

    ``v = momentum * v + dw; next_w = w - learning_rate * v``; ``config["velocity"]`` holds v
    (defaults: learning_rate 1e-2, momentum 0.9). Parts: steps (1/2: all 100 iterates) and
    velocity (1/2: ``config["velocity"]`` equals torch's ``momentum_buffer`` at the end).
    """
    return _optimizer("sgd_momentum", fn, SGD_VISIBLE, {"steps": 1, "velocity": 1}, "velocity", points, hidden)


@graded
def rmsprop(fn, points: float = 2, hidden: bool = False) -> float:
    """Check ``rmsprop(w, dw, config) -> (next_w, config)`` against ``torch.optim.RMSprop``.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw**2; next_w = w - learning_rate * dw /
    (sqrt(cache) + epsilon)`` (defaults 1e-2, 0.99, 1e-8). Parts: steps (1/2) and cache (1/2:
    ``config["cache"]`` equals torch's ``square_avg`` at the end).
    """
    return _optimizer("rmsprop", fn, RMSPROP_VISIBLE, {"steps": 1, "cache": 1}, "cache", points, hidden)


@graded
def adam(fn, points: float = 3, hidden: bool = False) -> float:
    """Check ``adam(w, dw, config) -> (next_w, config)`` against ``torch.optim.Adam``, bias
    correction included (defaults: learning_rate 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8).

    Parts: steps (2/3: all 100 iterates) and state (1/3: ``config["m"]``, ``config["v"]`` and
    ``config["t"]`` equal torch's ``exp_avg``, ``exp_avg_sq`` and ``step`` at the end).
    """
    return _optimizer("adam", fn, ADAM_VISIBLE, {"steps": 2, "state": 1}, "state", points, hidden)
