"""Graded checks for assignment A1, backprop in numpy (20 points, plus 4 for written answers).

=================  ============================================  ======  ============================
check              learner's object                              points  parts
=================  ============================================  ======  ============================
affine_forward     ``affine_forward(x, w, b) -> out``            2       out
affine_backward    ``affine_backward(dout, x, w, b) -> dx, dw,   3       dx, dw, db (1 each)
                   db``
relu               ``relu_forward(x)``, ``relu_backward(dout,    3       forward 1, backward 2
                   x)``
softmax_loss       ``softmax_loss(scores, y) -> loss, dscores``  4       loss 2, dscores 2
numeric_gradient   ``numeric_gradient(f, x, h=1e-5) -> grad``    3       gradient
two_layer_loss     ``two_layer_loss(X, y, params, reg) -> loss,  5       loss, W1, b1, W2, b2
                   grads``                                               (1 each)
=================  ============================================  ======  ============================

Shapes: ``x`` (N, D), ``w`` (D, M), ``b`` (M,), ``dout`` (N, M); ``scores`` (N, C), ``y`` (N,)
integer labels in ``[0, C)``; the two-layer net is ``affine - ReLU - affine - softmax`` with
``params = {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}`` and
``loss = mean cross-entropy + reg * (sum(W1**2) + sum(W2**2))``.

PyTorch's autograd is the reference for every value; inputs are float64 numpy arrays made from
fixed seeds (hidden cases: other seeds and sizes, including N = 1 and non-square shapes).

Numpy only, and graded: the learner's functions run with PyTorch out of reach (the probes
``numpy_call`` and ``numeric_gradient(..., numpy_only=True)``): ``import torch`` fails and a name
of the notebook bound to a PyTorch object raises when used, so an answer that lets autograd do
the work scores 0 in every question whose code uses it.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from course.grading.core import Question, compare, graded, shapes

__all__ = ["affine_forward", "affine_backward", "relu", "softmax_loss", "numeric_gradient",
           "two_layer_loss"]
#: no optimizer here, and the learner's code runs with PyTorch out of reach: the checks need not
#: import ``torch._dynamo`` first (``core._warm_up``: seconds, at the first check)
WARM_UP_TORCH = False

ATOL, RTOL = 1e-6, 1e-4   # forgiving enough for float32 arithmetic, far below any real bug

# (seed, N, D, M) for the affine layer; hidden ones add N = 1, D = 1 and wide/tall shapes
AFFINE_VISIBLE = [(0, 4, 5, 3), (1, 3, 6, 4)]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(1000 + seed)


def _t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _away_from_zero(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Normal values with |v| >= 0.05, so ReLU's kink at 0 never decides a case."""
    v = rng.standard_normal(shape)
    return np.where(np.abs(v) < 0.05, np.sign(v + 1e-12) * 0.05 + v, v)


# --------------------------------------------------------------------------------------------
# Q1, Q2: the affine layer
# --------------------------------------------------------------------------------------------
def _affine_inputs(seed: int, N: int, D: int, M: int):
    rng = _rng(seed)
    return (rng.standard_normal((N, D)), rng.standard_normal((D, M)) * 0.5,
            rng.standard_normal(M), rng.standard_normal((N, M)))


@graded
def affine_forward(fn, points: float = 2, hidden: bool = False) -> float:
    """Check ``affine_forward(x, w, b) -> out = x @ w + b``; x (N, D), w (D, M), b (M,) -> (N, M).

    Returns the points earned (all or nothing: right in every case).
    """
    q = Question("affine_forward", {"out": 1}, points, hidden)
    for label, (seed, N, D, M) in q.cases(AFFINE_VISIBLE, "a1.AFFINE"):
        x, w, b, _ = _affine_inputs(seed, N, D, M)
        expected = (_t(x) @ _t(w) + _t(b)).numpy()
        label = f"{label} ({shapes(x=x, w=w, b=b)})"
        ok, out = q.run("numpy_call", fn, x, w, b, label=label)
        if ok:
            q.compare("out", out, expected, label, ATOL, RTOL)
    return q.result()


@graded
def affine_backward(fn, points: float = 3, hidden: bool = False) -> float:
    """Check ``affine_backward(dout, x, w, b) -> (dx, dw, db)`` against autograd.

    Shapes: dout (N, M), x (N, D), w (D, M), b (M,) -> dx (N, D), dw (D, M), db (M,).
    Parts dx, dw and db earn a third of the points each.
    """
    q = Question("affine_backward", {"dx": 1, "dw": 1, "db": 1}, points, hidden)
    for label, (seed, N, D, M) in q.cases(AFFINE_VISIBLE, "a1.AFFINE"):
        x, w, b, dout = _affine_inputs(seed, N, D, M)
        tx, tw, tb = _t(x, True), _t(w, True), _t(b, True)
        ((tx @ tw + tb) * _t(dout)).sum().backward()  # sum(out * dout): its gradient is the VJP
        label = f"{label} ({shapes(dout=dout, x=x, w=w, b=b)})"
        ok, value = q.run("numpy_call", fn, dout, x, w, b, label=label)
        got = q.unpack(value, ["dx", "dw", "db"], label) if ok else None
        if got is not None:
            for name, g, ref in zip(("dx", "dw", "db"), got, (tx.grad, tw.grad, tb.grad)):
                q.compare(name, g, ref.numpy(), label, ATOL, RTOL)
    return q.result()


# --------------------------------------------------------------------------------------------
# Q3: ReLU
# --------------------------------------------------------------------------------------------
RELU_VISIBLE = [(0, (4, 5)), (1, (3, 2))]


@graded
def relu(forward, backward, points: float = 3, hidden: bool = False) -> float:
    """Check ``relu_forward(x) -> max(x, 0)`` (1/3 of the points) and ``relu_backward(dout, x)
    -> dx`` (2/3) against ``torch.relu`` and its autograd; any shape, no entry of x is 0.
    """
    q = Question("relu", {"forward": 1, "backward": 2}, points, hidden)
    for label, (seed, shape) in q.cases(RELU_VISIBLE, "a1.RELU"):
        rng = _rng(seed)
        x, dout = _away_from_zero(rng, *shape), rng.standard_normal(shape)
        tx = _t(x, True)
        out = torch.relu(tx)
        (out * _t(dout)).sum().backward()
        label = f"{label} ({shapes(x=x)})"
        ok, got = q.run("numpy_call", forward, x, label=label, parts=["forward"])
        if ok:
            q.compare("forward", got, out.detach().numpy(), label, ATOL, RTOL, "relu_forward")
        ok, got = q.run("numpy_call", backward, dout, x, label=label, parts=["backward"])
        if ok:
            q.compare("backward", got, tx.grad.numpy(), label, ATOL, RTOL, "relu_backward")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q4: softmax loss
# --------------------------------------------------------------------------------------------
SOFTMAX_VISIBLE = [(0, 5, 3), (1, 8, 10)]


def _softmax_inputs(seed: int, N: int, C: int, scale: float = 1.0):
    rng = _rng(seed)
    scores = rng.standard_normal((N, C)) * scale
    y = rng.integers(0, C, size=N)
    return scores, y


@graded
def softmax_loss(fn, points: float = 4, hidden: bool = False) -> float:
    """Check ``softmax_loss(scores, y) -> (loss, dscores)``: mean cross-entropy and its gradient.

    scores (N, C) float, y (N,) int in [0, C) -> loss (a number), dscores (N, C). Reference:
    ``F.cross_entropy`` (mean over the batch) and autograd. Parts: loss 1/2, dscores 1/2. A hidden
    case has scores around +-100, where an unshifted ``exp`` overflows.
    """
    q = Question("softmax_loss", {"loss": 1, "dscores": 1}, points, hidden)
    for label, (seed, N, C, *scale) in q.cases(SOFTMAX_VISIBLE, "a1.SOFTMAX"):
        scores, y = _softmax_inputs(seed, N, C, *scale)
        ts = _t(scores, True)
        loss = F.cross_entropy(ts, torch.as_tensor(y))
        loss.backward()
        label = f"{label} ({shapes(scores=scores, y=y)})"
        ok, value = q.run("numpy_call", fn, scores, y, label=label)
        got = q.unpack(value, ["loss", "dscores"], label) if ok else None
        if got is not None:
            q.compare("loss", got[0], loss.item(), label, ATOL, RTOL, "loss")
            q.compare("dscores", got[1], ts.grad.numpy(), label, ATOL, RTOL, "dscores")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q5: numeric gradient
# --------------------------------------------------------------------------------------------
NUMERIC_VISIBLE = [(0, (5,)), (1, (3, 4))]


def _scalar_inputs(seed: int, shape):
    """The coefficients of ``probes.scalar_function`` and a point ``x``; the exact gradient."""
    rng = _rng(seed)
    c, d = rng.standard_normal(shape), rng.standard_normal(shape)
    x = _rng(seed + 500).standard_normal(shape)
    tx = _t(x, True)
    ((torch.sin(tx) * _t(c)).sum() + 0.5 * (tx * tx * _t(d)).sum() + torch.tanh(tx.sum())).backward()
    return c, d, x, tx.grad.numpy()


@graded
def numeric_gradient(fn, points: float = 3, hidden: bool = False) -> float:
    """Check ``numeric_gradient(f, x, h=1e-5)``: the central-difference gradient of a scalar ``f``.

    x: float64 array of any shape -> grad, same shape. It must be within 1e-7 + 1e-6*|g| of the
    exact gradient (a forward difference is too inaccurate for that) and leave x as it was (up
    to rounding: restoring an entry by ``+h, -2h, +h`` may move it by a bit, which is fine).
    """
    q = Question("numeric_gradient", {"gradient": 1}, points, hidden)
    for label, (seed, shape) in q.cases(NUMERIC_VISIBLE, "a1.NUMERIC"):
        c, d, x, expected = _scalar_inputs(seed, shape)
        label = f"{label} (x {x.shape})"
        ok, value = q.run("numeric_gradient", fn, c, d, x, 1e-5, numpy_only=True, label=label)
        if not ok:
            continue
        grad, x_after = value
        if not q.compare("gradient", grad, expected, label, 1e-7, 1e-6):
            continue
        q.record("gradient", compare(x_after, x, 1e-12, 1e-12) is None,
                 f"{label}: the gradient is right, but x was changed; put each entry back "
                 f"after perturbing it")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q6: the two-layer net
# --------------------------------------------------------------------------------------------
# (seed, N, D, H, C, reg)
NET_VISIBLE = [(0, 5, 4, 6, 3, 0.0), (1, 8, 6, 10, 4, 0.1)]
NET_KEYS = ("W1", "b1", "W2", "b2")


def _net_inputs(seed: int, N: int, D: int, H: int, C: int):
    rng = _rng(seed)
    X = rng.standard_normal((N, D))
    y = rng.integers(0, C, size=N)
    params = {"W1": rng.standard_normal((D, H)) * 0.5, "b1": rng.standard_normal(H) * 0.5,
              "W2": rng.standard_normal((H, C)) * 0.5, "b2": rng.standard_normal(C) * 0.5}
    # keep hidden pre-activations away from ReLU's kink at 0
    h = X @ params["W1"] + params["b1"]
    params["b1"] = params["b1"] + np.where(np.abs(h).min(axis=0) < 0.02, 0.1, 0.0)
    return X, y, params


def _own_layers(q: Question, layers: tuple, X, y, params: dict, reg: float, label: str) -> dict | None:
    """The two-layer net built from the learner's own layers (``affine_forward``,
    ``affine_backward``, ``relu_forward``, ``relu_backward``, ``softmax_loss``), run by the
    check through probes: ``{"loss", "W1", ...}``, or None when a layer fails. A bug in a layer
    then costs its own question only, not the net's parts again."""
    af, ab, rf, rb, sl = layers
    W1, b1, W2, b2 = (params[k] for k in NET_KEYS)

    def run(fn, *args):
        ok, value = q.run("numpy_call", fn, *args, label=label, parts=[])
        if not ok:
            raise LookupError
        return value

    try:
        h = run(af, X, W1, b1)
        a = run(rf, h)
        scores = run(af, a, W2, b2)
        loss, dscores = run(sl, scores, y)
        da, dW2, db2 = run(ab, dscores, a, W2, b2)
        dh = run(rb, da, h)
        _, dW1, db1 = run(ab, dh, X, W1, b1)
        return {"loss": float(loss) + reg * float((W1 ** 2).sum() + (W2 ** 2).sum()),
                "W1": np.asarray(dW1, dtype=np.float64) + 2 * reg * W1, "b1": db1,
                "W2": np.asarray(dW2, dtype=np.float64) + 2 * reg * W2, "b2": db2}
    except Exception:  # noqa: BLE001 - a layer that fails or returns the wrong structure
        return None


@graded
def two_layer_loss(fn, *layers, points: float = 5, hidden: bool = False) -> float:
    """Check ``two_layer_loss(X, y, params, reg) -> (loss, grads)`` against autograd.

    The net: ``scores = relu(X @ W1 + b1) @ W2 + b2``; ``loss = mean cross-entropy(scores, y)
    + reg * (sum(W1**2) + sum(W2**2))``; ``grads`` is a dict with the keys of ``params`` and
    arrays of the same shapes. X (N, D), y (N,). Parts: loss, W1, b1, W2, b2 (1/5 each).

    ``layers``: the learner's ``affine_forward, affine_backward, relu_forward, relu_backward,
    softmax_loss``. A part that differs from autograd still earns its point when it equals the
    net built from these layers: a bug in a layer is charged once, in its own question.
    """
    q = Question("two_layer_loss", {"loss": 1, **{k: 1 for k in NET_KEYS}}, points, hidden)
    for label, (seed, N, D, H, C, reg) in q.cases(NET_VISIBLE, "a1.NET"):
        X, y, params = _net_inputs(seed, N, D, H, C)
        tp = {k: _t(v, True) for k, v in params.items()}
        scores = torch.relu(_t(X) @ tp["W1"] + tp["b1"]) @ tp["W2"] + tp["b2"]
        loss = F.cross_entropy(scores, torch.as_tensor(y))
        loss = loss + reg * ((tp["W1"] ** 2).sum() + (tp["W2"] ** 2).sum())
        loss.backward()
        label = f"{label} ({shapes(X=X, W1=params['W1'], W2=params['W2'], reg=reg)})"
        ok, value = q.run("numpy_call", fn, X, y, params, reg, label=label)
        answers = q.loss_and_grads(value, NET_KEYS, label) if ok else None
        if answers is None:
            continue
        reference = {"loss": loss.item(), **{k: tp[k].grad.numpy() for k in NET_KEYS}}
        own = None
        for k, answer in answers.items():
            why = compare(answer, reference[k], ATOL, RTOL)
            if why is not None and len(layers) == 5:
                own = own or _own_layers(q, layers, X, y, params, reg, label) or {}
                if k in own and compare(answer, own[k], ATOL, RTOL) is None:
                    why = None   # right for the layers it was built from: charged in their questions
            what = "loss" if k == "loss" else f"grads[{k!r}]"
            q.record(k, why is None, f"{label}: {what}: {why}")
    return q.result()
