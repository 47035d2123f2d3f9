"""Checks for lesson 06 (nn.Module and optimizers).

===========================  ===========================================================
check                        the learner writes
===========================  ===========================================================
``check_fit_line``           ``fit_line(X, y, num_epochs, lr)``: the 4-step recipe, returns
                             the trained model
``check_momentum_step``      ``momentum_step(w, grad, velocity, lr, momentum)``: one step of
                             SGD with momentum by hand, returns ``(w, velocity)``
``check_adam_step``          ``adam_step(w, grad, m, v, t, lr, beta1, beta2, eps)``: one Adam
                             step by hand, returns ``(w, m, v)``
===========================  ===========================================================

PyTorch is the oracle: the expected values come from least squares (``torch.linalg.lstsq``),
``torch.optim.SGD`` and ``torch.optim.Adam``, so no solution is stored here. Every check prints
one line (expected vs got on failure) and returns the points earned; none of them raises.
"""
from __future__ import annotations

import torch

from course import check

__all__ = ["check_fit_line", "check_momentum_step", "check_adam_step"]


# --------------------------------------------------------------------------------------------
# Exercise 1: the four-step recipe
# --------------------------------------------------------------------------------------------
def line_data(n: int = 64, w: float = 3.0, b: float = -2.0, noise: float = 0.1, seed: int = 0):
    """Toy regression data ``y = w*x + b + noise``: X (n, 1) in [-1, 1], y (n, 1), float32."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, generator=g) * 2 - 1
    y = w * X + b + noise * torch.randn(n, 1, generator=g)
    return X, y


def check_fit_line(fit_line, num_epochs: int = 200, lr: float = 0.1, points: float = 1.0) -> float:
    """Run the learner's ``fit_line(X, y, num_epochs, lr)`` and compare its predictions with the
    least-squares line at x = -1, 0, 1 (tolerance 0.05).

    ``fit_line`` gets X (64, 1), y (64, 1) and must return the trained model: an ``nn.Module``
    that maps (N, 1) -> (N, 1).
    """
    name = "fit_line"
    if not callable(fit_line):
        return check.report(name, 0, 1, points, f"expected a function, got {check.describe(fit_line)}")
    X, y = line_data()
    with torch.random.fork_rng(devices=[]):  # seed the learner's init without touching the caller's RNG
        torch.manual_seed(0)
        outcome = check.run_safely(fit_line, X.clone(), y.clone(), num_epochs, lr, timeout=30)
    if outcome.error:
        return check.report(name, 0, 1, points, f"fit_line(X, y, {num_epochs}, {lr}) {outcome.error}")
    model = outcome.value
    if not isinstance(model, torch.nn.Module):
        return check.report(name, 0, 1, points,
                            f"expected the trained model (an nn.Module such as nn.Linear(1, 1)), "
                            f"got {check.describe(model)}")
    grid = torch.tensor([[-1.0], [0.0], [1.0]])
    design = torch.cat([X, torch.ones_like(X)], dim=1)           # (N, 2): columns x and 1
    w_b = torch.linalg.lstsq(design, y).solution                 # (2, 1): best w and b
    expected = torch.cat([grid, torch.ones_like(grid)], dim=1) @ w_b  # (3, 1)
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            got = model(grid.to(device)).detach().cpu()
    except Exception as err:  # noqa: BLE001 - the learner's model is the problem
        return check.report(name, 0, 1, points, f"calling your model on a (3, 1) tensor raised "
                                                f"{type(err).__name__}: {err}")
    return check.value(f"{name} (predictions at x = -1, 0, 1)", got, expected, atol=0.05, rtol=0,
                       points=points)


# --------------------------------------------------------------------------------------------
# Exercise 2: SGD with momentum by hand
# --------------------------------------------------------------------------------------------
def _sgd_momentum_reference(w, grad, velocity, lr, momentum):
    """One ``torch.optim.SGD`` step with momentum, starting from the given velocity buffer."""
    p = torch.nn.Parameter(w.clone())
    p.grad = grad.clone()
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum, foreach=False)
    opt.state[p]["momentum_buffer"] = velocity.clone()
    opt.step()
    return p.detach().clone(), opt.state[p]["momentum_buffer"].clone()


def _momentum_cases():
    g = torch.Generator().manual_seed(6)
    cases = []
    for shape, lr, momentum, zero_velocity in [((3,), 0.1, 0.9, True), ((3,), 0.1, 0.9, False),
                                               ((2, 4), 0.05, 0.8, False), ((5,), 0.5, 0.5, False)]:
        w = torch.randn(shape, generator=g, dtype=torch.float64)
        grad = torch.randn(shape, generator=g, dtype=torch.float64)
        velocity = torch.zeros(shape, dtype=torch.float64) if zero_velocity else \
            torch.randn(shape, generator=g, dtype=torch.float64)
        cases.append((w, grad, velocity, lr, momentum))
    return cases


def check_momentum_step(momentum_step, points: float = 1.0) -> float:
    """Compare ``momentum_step(w, grad, velocity, lr, momentum) -> (w_new, velocity_new)`` with
    one step of ``torch.optim.SGD(..., momentum=momentum)`` on 4 cases (float64 tensors)."""
    return check.function("momentum_step", momentum_step, _sgd_momentum_reference,
                          _momentum_cases(), atol=1e-9, rtol=1e-7, points=points)


# --------------------------------------------------------------------------------------------
# Exercise 3: Adam by hand
# --------------------------------------------------------------------------------------------
def _adam_reference(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Step number ``t`` (1 for the first) of ``torch.optim.Adam`` from moments ``m`` and ``v``."""
    p = torch.nn.Parameter(w.clone())
    p.grad = grad.clone()
    opt = torch.optim.Adam([p], lr=lr, betas=(beta1, beta2), eps=eps, foreach=False)
    opt.state[p].update(step=torch.tensor(float(t - 1)), exp_avg=m.clone(), exp_avg_sq=v.clone())
    opt.step()
    state = opt.state[p]
    return p.detach().clone(), state["exp_avg"].clone(), state["exp_avg_sq"].clone()


def _adam_cases():
    g = torch.Generator().manual_seed(7)
    cases = []
    for shape, t, lr, fresh in [((3,), 1, 1e-3, True), ((4,), 5, 1e-2, False),
                                ((2, 3), 100, 1e-3, False)]:
        w = torch.randn(shape, generator=g, dtype=torch.float64)
        grad = torch.randn(shape, generator=g, dtype=torch.float64)
        if fresh:
            m = torch.zeros(shape, dtype=torch.float64)
            v = torch.zeros(shape, dtype=torch.float64)
        else:
            m = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
            v = 0.1 * torch.rand(shape, generator=g, dtype=torch.float64)
        cases.append({"w": w, "grad": grad, "m": m, "v": v, "t": t, "lr": lr})
    return cases


def check_adam_step(adam_step, points: float = 1.0) -> float:
    """Compare ``adam_step(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8) -> (w, m, v)``
    with ``torch.optim.Adam`` on 3 cases: a first step (t = 1) and later steps."""
    return check.function("adam_step", adam_step, _adam_reference, _adam_cases(),
                          atol=1e-9, rtol=1e-6, points=points)
