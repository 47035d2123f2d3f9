"""Graded checks for assignment A2, autograd and modules (12 points).

=============  ===============================================  ======  ===========================
check          learner's object                                 points  parts
=============  ===============================================  ======  ===========================
silu_function  ``SiLU``, a ``torch.autograd.Function``:         3       forward 1, backward 2
               ``SiLU.apply(x) = x * sigmoid(x)``
gated_linear   ``GatedLinear(in_features, out_features)``, an   5       structure 1, forward 2,
               ``nn.Module``: ``relu(value(x) * sigmoid(gate(     backward 2
               x)))`` with ``nn.Linear`` layers ``value`` and
               ``gate``
fit            ``fit(model, X, y, num_epochs, lr) -> losses``:  4       returns 1, trajectory 2,
               full-batch gradient descent on the MSE with               fits 1
               ``torch.optim.SGD``, one loss per epoch
               (recorded before that epoch's update)
=============  ===============================================  ======  ===========================

References: autograd on ``x * torch.sigmoid(x)``; the same formula with weights the check loads
into the learner's module; the model's loss before and after training, computed by the check
from the state the learner's loop leaves. The hidden run also compares the loss trajectory with
the instructor's reference loop (``hidden_tests/a2.py``). All data is generated from fixed
seeds; global random state is left untouched.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course.grading.core import Question, graded, shapes
from course.grading.probes import make_model

__all__ = ["silu_function", "gated_linear", "fit"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(2000 + seed)


# --------------------------------------------------------------------------------------------
# Q1: a custom autograd Function
# --------------------------------------------------------------------------------------------
SILU_VISIBLE = [(0, (5,), torch.float64), (1, (3, 4), torch.float64)]


@graded
def silu_function(cls, points: float = 3, hidden: bool = False) -> float:
    """Check a custom ``torch.autograd.Function`` computing SiLU, ``y = x * sigmoid(x)``.

    ``cls.apply(x)`` for x of any shape -> y, same shape. The backward pass must return
    ``grad_output * dy/dx`` with ``dy/dx = s + x * s * (1 - s)``, ``s = sigmoid(x)``.
    Parts: forward (1/3 of the points), backward (2/3), compared with autograd on
    ``x * torch.sigmoid(x)``.
    """
    q = Question("SiLU (autograd Function)", {"forward": 1, "backward": 2}, points, hidden)
    for label, (seed, shape, dtype) in q.cases(SILU_VISIBLE, "a2.SILU"):
        g = _gen(seed)
        x = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype) * 2
        dy = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
        xr = x.clone().requires_grad_(True)
        yr = xr * torch.sigmoid(xr)
        (yr * dy).sum().backward()
        label = f"{label} ({shapes(x=x)}, {str(dtype).replace('torch.', '')})"
        tol = (1e-6, 1e-5) if dtype == torch.float64 else (1e-5, 1e-4)
        ok, y = q.run("function_forward", cls, x, label=label, parts=["forward"])
        if ok:
            q.compare("forward", y, yr.detach(), label, *tol, what="forward")
        ok, grad = q.run("function_backward", cls, x, dy, label=label, parts=["backward"])
        if ok:
            if grad is None:
                q.record("backward", False, f"{label}: no gradient reached x (x.grad is None); "
                                            f"backward must return grad_output * dy/dx")
            else:
                q.compare("backward", grad, xr.grad, label, *tol, what="x.grad")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q2: a custom nn.Module
# --------------------------------------------------------------------------------------------
# (seed, in_features, out_features, N)
GATED_VISIBLE = [(0, 4, 3, 5), (1, 6, 2, 8)]
GATED_NAMES = ("value.weight", "value.bias", "gate.weight", "gate.bias")


def _gated_reference(x, Wv, bv, Wg, bg):
    return torch.relu(F.linear(x, Wv, bv) * torch.sigmoid(F.linear(x, Wg, bg)))


def _linear(layers: dict, name: str, n_in: int, n_out: int) -> str | None:
    layer = layers.get(name, {})
    if layer.get("type") != "Linear":
        return f"self.{name} should be an nn.Linear, got {layer.get('type', 'nothing')}"
    if (layer.get("in_features"), layer.get("out_features")) != (n_in, n_out) or not layer.get("bias"):
        return (f"self.{name} should be nn.Linear({n_in}, {n_out}) with a bias, got nn.Linear("
                f"{layer.get('in_features')}, {layer.get('out_features')}, bias={layer.get('bias')})")
    return None


@graded
def gated_linear(cls, points: float = 5, hidden: bool = False) -> float:
    """Check ``GatedLinear(in_features, out_features)``: ``relu(value(x) * sigmoid(gate(x)))``.

    x: (N, in_features) -> (N, out_features). Parts: structure (1/5: an nn.Module with
    ``nn.Linear`` layers ``value`` and ``gate``, 2 * (in * out + out) parameters), forward (2/5)
    and backward (2/5: the gradients of x and of all four parameters, from ``sum(out * g)``).
    The check loads weights of its own into the module, so the expected values are computed
    from weights it chose.
    """
    q = Question("GatedLinear (nn.Module)", {"structure": 1, "forward": 2, "backward": 2},
                 points, hidden)
    for label, (seed, n_in, n_out, N) in q.cases(GATED_VISIBLE, "a2.GATED"):
        g = _gen(seed)
        x = torch.randn(N, n_in, generator=g)
        dy = torch.randn(N, n_out, generator=g)
        label = f"{label} (GatedLinear({n_in}, {n_out}), {shapes(x=x)})"
        ok, info = q.run("module_parameters", cls, (n_in, n_out), seed, label=label)
        if not ok:
            continue
        problem = _linear(info["layers"], "value", n_in, n_out) or _linear(info["layers"], "gate", n_in, n_out)
        if problem:
            q.fail(q.parts, f"{label}: {problem}")
            continue
        count = sum(int(t.numel()) for t in info["params"].values())
        q.record("structure", count == 2 * (n_in * n_out + n_out),
                 f"{label}: expected {2 * (n_in * n_out + n_out)} parameters, found {count}")
        state = {name: torch.randn(info["params"][name].shape, generator=g) for name in GATED_NAMES}
        weights = [state[name] for name in GATED_NAMES]
        leaves = [x.clone().requires_grad_(True)] + [w.clone().requires_grad_(True) for w in weights]
        expected = _gated_reference(*leaves)
        (expected * dy).sum().backward()
        ok, run = q.run("module_run", cls, (n_in, n_out), seed, x, dy, state, label=label,
                        parts=["forward", "backward"])
        if not ok:
            continue
        q.compare("forward", run["out"], expected.detach(), label, 1e-5, 1e-4)
        if run.get("backward_error"):
            q.fail(["backward" if "backward" in q.parts else "gradients"],
                   f"{label}: the backward pass {run['backward_error']}")
            continue
        grads = {"x": run.get("x_grad"), **run.get("grads", {})}
        for name, leaf in zip(("x",) + GATED_NAMES, leaves):
            if grads.get(name) is None:
                q.record("backward", False, f"{label}: no gradient reached {name}")
                break
            if not q.compare("backward", grads[name], leaf.grad, label, 1e-5, 1e-4, f"{name}.grad"):
                break
    return q.result()


# --------------------------------------------------------------------------------------------
# Q3: a training loop
# --------------------------------------------------------------------------------------------
# (seed, N, D, num_epochs, lr)
FIT_VISIBLE = [(0, 64, 3, 60, 0.1)]


def _regression(seed: int, N: int, D: int):
    """Data (X (N, D), y (N, 1)) and a starting state of ``nn.Linear(D, 1)``."""
    g = _gen(seed)
    X = torch.randn(N, D, generator=g)
    w = torch.randn(D, 1, generator=g)
    y = X @ w + 0.5 + 0.01 * torch.randn(N, 1, generator=g)   # (N, D) @ (D, 1) -> (N, 1)
    state = {"weight": torch.randn(1, D, generator=g) * 0.3, "bias": torch.randn(1, generator=g) * 0.3}
    return X, y, state


def _mse(arch, state, X, y) -> float:
    with torch.no_grad():
        return F.mse_loss(make_model(arch, state)(X), y).item()


@graded
def fit(fn, points: float = 4, hidden: bool = False) -> float:
    """Check ``fit(model, X, y, num_epochs, lr) -> losses`` on a small linear regression.

    X: (N, D) float32, y: (N, 1), model: ``nn.Linear(D, 1)``. Each epoch is one full-batch step
    of ``torch.optim.SGD(model.parameters(), lr=lr)`` on the mean squared error, and ``losses``
    holds each epoch's loss as a number, computed before that epoch's update. Parts: returns
    (1/4: ``num_epochs`` numbers), trajectory (2/4: the first loss is the model's starting loss
    and the losses fall; the hidden run compares every value with the reference loop's) and
    fits (1/4: the model passed in ends with less than half its starting loss).
    """
    q = Question("fit (training loop)", {"returns": 1, "trajectory": 2, "fits": 1}, points, hidden)
    reference = q.hidden_value("a2.reference_fit")
    for label, (seed, N, D, num_epochs, lr) in q.cases(FIT_VISIBLE, "a2.FIT"):
        X, y, state = _regression(seed, N, D)
        arch = ("linear", D)
        start = _mse(arch, state, X, y)
        label = f"{label} ({shapes(X=X, y=y, num_epochs=num_epochs, lr=lr)})"
        ok, run = q.run("train_function", fn, arch, state, X, y, num_epochs, lr, label=label)
        if not ok:
            continue
        expected = reference(make_model(arch, state), X, y, num_epochs, lr) if reference else None
        q.trajectory(run["value"], num_epochs, start, expected, label)
        try:
            end = _mse(arch, run["state"], X, y)
        except Exception as err:  # noqa: BLE001 - e.g. parameters replaced by something odd
            q.record("fits", False, f"{label}: the model no longer runs after fit ({err})")
            continue
        q.record("fits", end < 0.5 * start,
                 f"{label}: the model's loss went from {start:.4g} to {end:.4g}; it should fall "
                 f"below half (train the model you were given, in place)")
    return q.result()
