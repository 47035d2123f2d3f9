"""Checks for lesson 04, autograd. PyTorch itself (autograd, ``F.leaky_relu``,
``torch.autograd.functional.vjp``, ``gradcheck``) is the oracle.

Every check prints one line (correct, or what was expected and what came out, with a hint for
the usual mistakes), returns the points earned and never raises.

=======================  =====================================================================
check                    the learner writes
=======================  =====================================================================
``check_sgd_step``       ``sgd_step(params, lr)``: update leaf tensors in place, reset grads
``check_leaky_relu``     ``LeakyReLU(torch.autograd.Function)`` with ``forward(ctx, x, slope)``
``check_vjp``            ``vjp(f, x, v) -> v^T J`` with ``backward(v)``, no Jacobian
``check_fit_quadratic``  ``fit_quadratic(x, y, lr, num_steps) -> (w1, w2, b)``: Liu Er's
                         quadratic model fitted by gradient descent with autograd
=======================  =====================================================================
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from course import check


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# Exercise 1: one SGD step done right
# ---------------------------------------------------------------------------------------------
def _sgd_problem():
    """A fixed least-squares problem: X (8, 3), y (8, 2), leaf weights w (3, 2) and b (2,)."""
    X, y = _randn(8, 3, seed=10), _randn(8, 2, seed=11)
    w = _randn(3, 2, seed=12).requires_grad_()
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    return X, y, w, b


def _loss(X, y, w, b):
    return ((X @ w + b - y) ** 2).mean()


def check_sgd_step(sgd_step: Callable, lr: float = 0.1, num_steps: int = 3,
                   points: float = 1.0) -> float:
    """Check ``sgd_step(params, lr)`` by running ``num_steps`` steps of training with it.

    Inputs: ``params`` is a list of leaf tensors with ``requires_grad=True`` whose ``.grad``
    holds the gradient of the loss; ``sgd_step`` must change them in place (``w -= lr * w.grad``
    under ``torch.no_grad()``) and reset the gradients (``zero_()`` or ``None``), returning
    nothing. The weights after the steps must match plain gradient descent computed here.
    """
    name = "sgd_step"
    if not callable(sgd_step):
        return check.report(name, 0, 1, points,
                            f"expected a function, got {check.describe(sgd_step)}")
    X, y, w, b = _sgd_problem()
    X0, y0, w_ref, b_ref = _sgd_problem()
    w_start = w.detach().clone()
    for step in range(num_steps):
        outcome = check.run_safely(lambda: _loss(X, y, w, b).backward())
        if outcome.error:
            hint = ""
            if not (w.is_leaf and b.is_leaf and w.requires_grad and b.requires_grad):
                hint = (" (after your step the weights are no longer leaf tensors that require"
                        " grad: update them in place inside torch.no_grad())")
            return check.report(name, 0, 1, points,
                                f"step {step + 1}: the backward pass failed: {outcome.error}{hint}")
        outcome = check.run_safely(sgd_step, [w, b], lr)
        if outcome.error:
            return check.report(name, 0, 1, points, f"step {step + 1}: sgd_step {outcome.error}")
        gw, gb = torch.autograd.grad(_loss(X0, y0, w_ref, b_ref), [w_ref, b_ref])
        with torch.no_grad():
            w_ref -= lr * gw
            b_ref -= lr * gb
        hint = _sgd_hint(w, b, w_start, step)
        for label, got, expected in [("w", w, w_ref), ("b", b, b_ref)]:
            why = check.compare(got, expected, atol=1e-10, rtol=1e-8)
            if why:
                problem = f"after step {step + 1}, {label}: {why}"
                return check.report(name, 0, 1, points, problem + (f" ({hint})" if hint else ""))
    return check.report(name, 1, 1, points)


def _sgd_hint(w, b, w_start, step) -> str:
    """The usual mistakes, recognisable from the state of w and b after a step."""
    if not (w.is_leaf and b.is_leaf):
        return ("w or b is no longer a leaf tensor: update in place (w -= ...) inside "
                "torch.no_grad(), do not rebind w = w - ...")
    if not (w.requires_grad and b.requires_grad):
        return "w or b lost requires_grad"
    if step == 0 and torch.equal(w.detach(), w_start):
        return "w did not change: the step must update the tensors in place"
    for t in (w, b):
        if t.grad is not None and bool(t.grad.abs().max() > 0):
            return "the gradients were not reset: call p.grad.zero_() (or set p.grad = None)"
    return ""


# ---------------------------------------------------------------------------------------------
# Exercise 2: a custom autograd Function
# ---------------------------------------------------------------------------------------------
def check_leaky_relu(LeakyReLU, slope: float = 0.1, points: float = 1.0) -> float:
    """Check a ``torch.autograd.Function`` computing ``leaky_relu(x, slope)`` and its gradient.

    ``LeakyReLU.apply(x, slope)`` takes a float64 tensor ``x`` of any shape and a Python float and
    returns a tensor of the shape of ``x``. Three things are checked: the forward values and
    the gradient (for an upstream gradient of shape (4, 5)) against ``F.leaky_relu`` with
    autograd, then ``torch.autograd.gradcheck`` in double precision.
    """
    name = "LeakyReLU"
    if not hasattr(LeakyReLU, "apply"):
        return check.report(name, 0, 1, points, f"expected a torch.autograd.Function subclass, got "
                                                f"{check.describe(LeakyReLU)}")
    x = _randn(4, 5, seed=20)
    x = x + 0.05 * torch.sign(x)          # keep entries away from the kink at 0
    upstream = _randn(4, 5, seed=21)

    mine_x = x.clone().requires_grad_()
    outcome = check.run_safely(LeakyReLU.apply, mine_x, slope)
    if outcome.error:
        return check.report(name, 0, 1, points,
                            f"forward: LeakyReLU.apply(x, {slope}) {outcome.error}")
    why = check.compare(outcome.value, F.leaky_relu(x, slope))
    if why:
        return check.report(name, 0, 1, points, f"forward: {why}")
    if not getattr(outcome.value, "requires_grad", False):
        return check.report(name, 0, 1, points, "forward: the output does not require grad; call "
                                                "the function as LeakyReLU.apply(x, slope)")
    out = outcome.value
    run = check.run_safely(lambda: out.backward(upstream))
    if run.error:
        return check.report(name, 0, 1, points, f"backward {run.error}")
    ref_x = x.clone().requires_grad_()
    F.leaky_relu(ref_x, slope).backward(upstream)
    why = check.compare(mine_x.grad, ref_x.grad) if mine_x.grad is not None else \
        f"expected a gradient of shape {tuple(x.shape)}, got None (backward must return dx first)"
    if why:
        return check.report(name, 0, 1, points, f"backward, dL/dx: {why}")
    probe = x[:2, :3].clone().requires_grad_()
    ok = check.run_safely(torch.autograd.gradcheck, lambda t: LeakyReLU.apply(t, slope), (probe,),
                          raise_exception=False)
    if ok.error or ok.value is not True:
        return check.report(name, 0, 1, points, "torch.autograd.gradcheck did not pass"
                            + (f": {ok.error}" if ok.error else ""))
    return check.report(name, 1, 1, points)


# ---------------------------------------------------------------------------------------------
# Exercise 3: vector-Jacobian products
# ---------------------------------------------------------------------------------------------
_W = _randn(3, 4, seed=30)


def _tanh_layer(x):
    """(4,) -> (3,): tanh(W x)."""
    return torch.tanh(_W @ x)


def _squares(x):
    """(n,) -> (n,): elementwise x^2 plus the running sum (a lower-triangular Jacobian)."""
    return x ** 2 + torch.cumsum(x, dim=0)


def _outer(x):
    """(n,) -> (n, n): the outer product x x^T (a matrix output; v has its shape)."""
    return torch.outer(x, x)


def _vjp_oracle(f, x, v):
    return torch.autograd.functional.vjp(f, x, v)[1]


def check_vjp(vjp: Callable, points: float = 1.0) -> float:
    """Check ``vjp(f, x, v) -> v^T J`` for functions ``f`` of one float64 tensor.

    ``x`` has shape (n,), ``f(x)`` has some shape S and ``v`` has shape S; the result has the
    shape of ``x``. The oracle is ``torch.autograd.functional.vjp``.
    """
    cases = [(_tanh_layer, _randn(4, seed=31), _randn(3, seed=32)),
             (_squares, _randn(5, seed=33), _randn(5, seed=34)),
             (_outer, _randn(3, seed=35), _randn(3, 3, seed=36))]
    return check.function("vjp", vjp, _vjp_oracle, cases, atol=1e-9, rtol=1e-7, points=points)


# ---------------------------------------------------------------------------------------------
# Exercise 4: Liu Er's quadratic model, fitted by autograd
# ---------------------------------------------------------------------------------------------
def _quadratic_reference(x, y, lr, num_steps, *, reset=True, reduce="mean"):
    """``num_steps`` full-batch steps of ``torch.optim.SGD`` on the MSE of w1 x^2 + w2 x + b,
    from w1 = w2 = b = 0. ``reset=False`` / ``reduce="sum"`` reproduce two usual mistakes."""
    params = [torch.zeros((), dtype=x.dtype, requires_grad=True) for _ in range(3)]
    optimizer = torch.optim.SGD(params, lr=lr)
    for _ in range(num_steps):
        w1, w2, b = params
        loss = F.mse_loss(w1 * x ** 2 + w2 * x + b, y, reduction=reduce)
        if reset:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return tuple(p.detach() for p in params)


def _quadratic_cases():
    g = _gen(40)
    x = torch.linspace(-2, 2, 20, dtype=torch.float64)
    y = 0.5 * x ** 2 - x + 2 + 0.1 * torch.randn(20, generator=g, dtype=torch.float64)
    liu_x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    liu_y = torch.tensor([2.0, 4.0, 6.0], dtype=torch.float64)
    return [(liu_x, liu_y, 0.01, 1), (liu_x, liu_y, 0.01, 100), (x, y, 0.05, 300)]


def check_fit_quadratic(fit_quadratic: Callable, points: float = 1.0) -> float:
    """Check ``fit_quadratic(x, y, lr, num_steps) -> (w1, w2, b)``.

    The learner fits ``y_hat = w1 x^2 + w2 x + b`` by autograd: start from w1 = w2 = b = 0 and take
    ``num_steps`` full-batch gradient-descent steps of size ``lr`` on the mean squared error.
    Reference: the same steps taken by ``torch.optim.SGD`` with ``F.mse_loss``, on Liu Er's data
    (x = 1, 2, 3; y = 2, 4, 6) for 1 and 100 steps, and on 20 noisy points of a parabola for 300.
    Names the usual slips (gradients not reset, sum instead of mean) when the numbers show one.
    """
    name = "fit_quadratic"
    if not callable(fit_quadratic):
        return check.report(name, 0, 1, points, f"expected a function, got {check.describe(fit_quadratic)}")
    cases = _quadratic_cases()
    passed, problem = 0, None
    for i, (x, y, lr, steps) in enumerate(cases, start=1):
        expected = _quadratic_reference(x, y, lr, steps)
        out = check.run_safely(fit_quadratic, x.clone(), y.clone(), lr, steps)
        why = out.error
        if why is None:
            got = tuple(out.value) if isinstance(out.value, (list, tuple)) else out.value
            why = check._compare_structured(got, expected, 1e-5, 1e-4)
            if why is not None and isinstance(got, tuple) and len(got) == 3:
                for slip, kwargs in (("the gradients were not reset between steps (w.grad.zero_())",
                                      dict(reset=False)),
                                     ("the loss is a sum over the points; the exercise asks for the mean",
                                      dict(reduce="sum"))):
                    variant = _quadratic_reference(x, y, lr, steps, **kwargs)
                    if check._compare_structured(got, variant, 1e-5, 1e-4) is None:
                        why += f" (that is what you get when {slip})"
                        break
        if why is None:
            passed += 1
        elif problem is None:
            problem = (f"case {i} ({len(x)} points, lr={lr}, {steps} step{'s' * (steps > 1)}): "
                       f"(w1, w2, b) {why}")
    return check.report(name, passed, len(cases), points, problem)
