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

References: autograd on ``x * torch.sigmoid(x)``; the same formula with the module's own weights;
and a copy of the model trained by the reference loop (same start, so the loss values must agree
step by step). All data is generated from fixed seeds; global random state is left untouched.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from course import check
from course.grading import Question, graded, loss_list, shapes

__all__ = ["silu_function", "gated_linear", "fit"]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(2000 + seed)


# --------------------------------------------------------------------------------------------
# Q1: a custom autograd Function
# --------------------------------------------------------------------------------------------
SILU_VISIBLE = [(0, (5,), torch.float64), (1, (3, 4), torch.float64)]
SILU_HIDDEN = [(10, (1,), torch.float64), (11, (2, 3, 4), torch.float64), (12, (6,), torch.float32)]


def _silu_apply(cls, x):
    return cls.apply(x)


def _silu_backward(cls, x, g):
    x = x.detach().clone().requires_grad_(True)
    y = cls.apply(x)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"forward returned {check.describe(y)}, not a tensor")
    if y.grad_fn is None:
        raise RuntimeError("the output has no grad_fn: apply the Function with SiLU.apply(x)")
    (y * g).sum().backward()
    return x.grad


@graded
def silu_function(cls, points: float = 3, hidden: bool = False) -> float:
    """Check a custom ``torch.autograd.Function`` computing SiLU, ``y = x * sigmoid(x)``.

    ``cls.apply(x)`` for x of any shape -> y, same shape. The backward pass must return
    ``grad_output * dy/dx`` with ``dy/dx = s + x * s * (1 - s)``, ``s = sigmoid(x)``.
    Parts: forward (1/3 of the points), backward (2/3), compared with autograd on
    ``x * torch.sigmoid(x)``.
    """
    q = Question("SiLU (autograd Function)", {"forward": 1, "backward": 2}, points, hidden)
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        q.fail(q.parts, f"expected a subclass of torch.autograd.Function, got {check.describe(cls)}")
        return q.result()
    for label, (seed, shape, dtype) in q.cases(SILU_VISIBLE, SILU_HIDDEN):
        g = _gen(seed)
        x = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype) * 2
        dy = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
        xr = x.clone().requires_grad_(True)
        yr = xr * torch.sigmoid(xr)
        (yr * dy).sum().backward()
        label = f"{label} ({shapes(x=x)}, {str(dtype).replace('torch.', '')})"
        tol = (1e-6, 1e-5) if dtype == torch.float64 else (1e-5, 1e-4)
        ok, y = q.call(_silu_apply, cls, x, label=label, parts=["forward"], key=cls)
        if ok:
            q.compare("forward", y, yr.detach(), label, *tol, what="forward")
        ok, grad = q.call(_silu_backward, cls, x, dy, label=label, parts=["backward"], key=cls)
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
GATED_HIDDEN = [(10, 1, 1, 3), (11, 8, 16, 1), (12, 3, 5, 7)]


def _gated_reference(x, Wv, bv, Wg, bg):
    return torch.relu(F.linear(x, Wv, bv) * torch.sigmoid(F.linear(x, Wg, bg)))


def _linear(module, name: str, n_in: int, n_out: int) -> str | None:
    layer = getattr(module, name, None)
    if not isinstance(layer, nn.Linear):
        return f"self.{name} should be an nn.Linear, got {check.describe(layer)}"
    if (layer.in_features, layer.out_features) != (n_in, n_out) or layer.bias is None:
        return (f"self.{name} should be nn.Linear({n_in}, {n_out}) with a bias, got "
                f"nn.Linear({layer.in_features}, {layer.out_features}, bias={layer.bias is not None})")
    return None


def _forward(model, x):
    return model(x)


def _backward(model, x, g):
    model.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    (model(x) * g).sum().backward()
    return [x.grad] + [p.grad for p in (model.value.weight, model.value.bias,
                                        model.gate.weight, model.gate.bias)]


@graded
def gated_linear(cls, points: float = 5, hidden: bool = False) -> float:
    """Check ``GatedLinear(in_features, out_features)``: ``relu(value(x) * sigmoid(gate(x)))``.

    x: (N, in_features) -> (N, out_features). Parts: structure (1/5: an nn.Module with
    ``nn.Linear`` layers ``value`` and ``gate``, 2 * (in * out + out) parameters), forward (2/5)
    and backward (2/5: the gradients of x and of all four parameters, from ``sum(out * g)``).
    """
    q = Question("GatedLinear (nn.Module)", {"structure": 1, "forward": 2, "backward": 2},
                 points, hidden)
    for label, (seed, n_in, n_out, N) in q.cases(GATED_VISIBLE, GATED_HIDDEN):
        g = _gen(seed)
        x = torch.randn(N, n_in, generator=g)
        dy = torch.randn(N, n_out, generator=g)
        label = f"{label} (GatedLinear({n_in}, {n_out}), {shapes(x=x)})"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            ok, model = q.call(cls, n_in, n_out, label=label, key=cls)
        if not ok:
            continue
        if not isinstance(model, nn.Module):
            q.fail(q.parts, f"{label}: GatedLinear(...) should be an nn.Module, got {check.describe(model)}")
            continue
        problem = _linear(model, "value", n_in, n_out) or _linear(model, "gate", n_in, n_out)
        if problem:
            q.fail(q.parts, f"{label}: {problem}")
            continue
        count = sum(p.numel() for p in model.parameters())
        q.record("structure", count == 2 * (n_in * n_out + n_out),
                 f"{label}: expected {2 * (n_in * n_out + n_out)} parameters, found {count}")
        weights = [t.detach().clone() for t in (model.value.weight, model.value.bias,
                                                 model.gate.weight, model.gate.bias)]
        ok, out = q.call(_forward, model, x.clone(), label=label, parts=["forward"], key=cls,
                         copy_args=False)
        if ok:
            q.compare("forward", out, _gated_reference(x, *weights), label, 1e-5, 1e-4)
        leaves = [x.clone().requires_grad_(True)] + [w.clone().requires_grad_(True) for w in weights]
        (_gated_reference(*leaves) * dy).sum().backward()
        ok, grads = q.call(_backward, model, x.clone(), dy, label=label, parts=["backward"],
                           key=cls, copy_args=False)
        if ok:
            names = ["x", "value.weight", "value.bias", "gate.weight", "gate.bias"]
            for name, got, leaf in zip(names, grads, leaves):
                if got is None:
                    q.record("backward", False, f"{label}: no gradient reached {name}")
                    break
                if not q.compare("backward", got, leaf.grad, label, 1e-5, 1e-4, f"{name}.grad"):
                    break
    return q.result()


# --------------------------------------------------------------------------------------------
# Q3: a training loop
# --------------------------------------------------------------------------------------------
# (seed, N, D, num_epochs, lr)
FIT_VISIBLE = [(0, 64, 3, 60, 0.1)]
FIT_HIDDEN = [(10, 32, 5, 80, 0.05), (11, 100, 1, 40, 0.2), (12, 8, 2, 30, 0.1)]


def _regression(seed: int, N: int, D: int):
    g = _gen(seed)
    X = torch.randn(N, D, generator=g)
    w = torch.randn(D, 1, generator=g)
    y = X @ w + 0.5 + 0.01 * torch.randn(N, 1, generator=g)   # (N, D) @ (D, 1) -> (N, 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Linear(D, 1)
    return X, y, model


def _reference_fit(model, X, y, num_epochs: int, lr: float) -> list[float]:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(num_epochs):
        loss = F.mse_loss(model(X), y)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses


@graded
def fit(fn, points: float = 4, hidden: bool = False) -> float:
    """Check ``fit(model, X, y, num_epochs, lr) -> losses`` on a small linear regression.

    X: (N, D) float32, y: (N, 1), model: ``nn.Linear(D, 1)``. Each epoch is one full-batch step
    of ``torch.optim.SGD(model.parameters(), lr=lr)`` on the mean squared error, and ``losses``
    holds each epoch's loss as a number, computed before that epoch's update. Parts: returns
    (1/4: ``num_epochs`` numbers), trajectory (2/4: equal to the reference loop's losses) and fits
    (1/4: the model passed in ends with less than half its starting loss).
    """
    q = Question("fit (training loop)", {"returns": 1, "trajectory": 2, "fits": 1}, points, hidden)
    for label, (seed, N, D, num_epochs, lr) in q.cases(FIT_VISIBLE, FIT_HIDDEN):
        X, y, model = _regression(seed, N, D)
        with torch.no_grad():
            start = F.mse_loss(model(X), y).item()
        expected = _reference_fit(copy.deepcopy(model), X, y, num_epochs, lr)
        label = f"{label} ({shapes(X=X, y=y, num_epochs=num_epochs, lr=lr)})"
        ok, losses = q.call(fn, model, X.clone(), y.clone(), num_epochs, lr, label=label,
                            copy_args=False)
        if not ok:
            continue
        values, problem = loss_list(losses, num_epochs)
        if not q.record("returns", problem is None, f"{label}: {problem}"):
            q.fail(["trajectory"], f"{label}: {problem}")
        else:
            q.compare("trajectory", values, expected, label, 1e-5, 1e-3, "losses")
        try:
            with torch.no_grad():
                end = F.mse_loss(model(X), y).item()
        except Exception as err:  # noqa: BLE001 - e.g. parameters replaced by something odd
            q.record("fits", False, f"{label}: the model no longer runs after fit ({err})")
            continue
        q.record("fits", end < 0.5 * start,
                 f"{label}: the model's loss went from {start:.4g} to {end:.4g}; it should fall "
                 f"below half (train the model you were given, in place)")
    return q.result()
