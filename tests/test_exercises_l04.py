"""Lesson 04's exercise checks: a correct answer passes, a wrong one and the shipped stub fail
with an expected-vs-got message, and nothing raises."""
from __future__ import annotations

import pytest
import torch

from course.exercises import l04


# ----- exercise 1: sgd_step -------------------------------------------------------------------
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad.zero_()


def sgd_step_grad_none(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None


def sgd_step_forgets_zero(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad


def sgd_step_rebinds(params, lr):
    for p in params:
        p = p - lr * p.grad  # noqa: F841 - the classic mistake: only the local name changes


def sgd_step_without_no_grad(params, lr):
    for p in params:
        p -= lr * p.grad


def sgd_step_stub(params, lr):
    pass  # YOUR CODE HERE


def test_sgd_step_correct(capsys):
    assert l04.check_sgd_step(sgd_step) == 1.0
    assert l04.check_sgd_step(sgd_step_grad_none) == 1.0
    assert capsys.readouterr().out.count("\u2714") == 2


@pytest.mark.parametrize("wrong,hint", [
    (sgd_step_forgets_zero, "not reset"),
    (sgd_step_rebinds, "did not change"),
    (sgd_step_stub, "did not change"),
])
def test_sgd_step_wrong(wrong, hint, capsys):
    assert l04.check_sgd_step(wrong) == 0
    out = capsys.readouterr().out
    assert "\u2718" in out and "expected" in out and "got" in out and hint in out


def test_sgd_step_in_place_without_no_grad_says_why(capsys):
    assert l04.check_sgd_step(sgd_step_without_no_grad) == 0
    out = capsys.readouterr().out
    assert "\u2718" in out and "RuntimeError" in out and "in-place" in out


# ----- exercise 2: LeakyReLU ------------------------------------------------------------------
class LeakyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.where(x > 0, x, slope * x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * torch.where(x > 0, 1.0, ctx.slope), None


class LeakyReLUWrongBackward(LeakyReLU):
    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * (x > 0), None  # forgets the slope on the negative side


class LeakyReLUWrongForward(LeakyReLU):
    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return x.clamp(min=0)


class LeakyReLUStub(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope):
        out = None
        # YOUR CODE HERE
        return out

    @staticmethod
    def backward(ctx, grad_out):
        dx = None
        # YOUR CODE HERE
        return dx, None


def test_leaky_relu_correct(capsys):
    assert l04.check_leaky_relu(LeakyReLU) == 1.0
    assert "\u2714" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,where", [(LeakyReLUWrongBackward, "backward"),
                                         (LeakyReLUWrongForward, "forward")])
def test_leaky_relu_wrong(wrong, where, capsys):
    assert l04.check_leaky_relu(wrong) == 0
    out = capsys.readouterr().out
    assert "\u2718" in out and where in out and "expected" in out and "got" in out


def test_leaky_relu_stub_and_garbage(capsys):
    assert l04.check_leaky_relu(LeakyReLUStub) == 0
    assert l04.check_leaky_relu(None) == 0
    out = capsys.readouterr().out
    assert out.count("\u2718") == 2


# ----- exercise 3: vjp ------------------------------------------------------------------------
def vjp(f, x, v):
    x = x.detach().clone().requires_grad_()
    f(x).backward(v)
    return x.grad


def vjp_ignores_v(f, x, v):
    x = x.detach().clone().requires_grad_()
    f(x).sum().backward()  # the vector of ones instead of v
    return x.grad


def vjp_stub(f, x, v):
    return None


def test_vjp_correct(capsys):
    assert l04.check_vjp(vjp) == 1.0
    assert "\u2714" in capsys.readouterr().out


@pytest.mark.parametrize("wrong", [vjp_ignores_v, vjp_stub])
def test_vjp_wrong(wrong, capsys):
    assert l04.check_vjp(wrong) == 0
    out = capsys.readouterr().out
    assert "\u2718" in out and ("expected" in out and "got" in out)


# ---------------------------------------------------------------- Exercise 4: quadratic model
def fit_quadratic(x, y, lr, num_steps):
    w1, w2, b = (torch.tensor(0.0, dtype=x.dtype, requires_grad=True) for _ in range(3))
    for _ in range(num_steps):
        loss = ((w1 * x ** 2 + w2 * x + b - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            for p in (w1, w2, b):
                p -= lr * p.grad
                p.grad.zero_()
    return w1, w2, b


def fit_quadratic_old_idiom(x, y, lr, num_steps):
    """Liu Er's style: .data updates and w.grad.data.zero_(); float32 weights, floats returned."""
    w1, w2, b = (torch.tensor([0.0], requires_grad=True) for _ in range(3))
    for _ in range(num_steps):
        loss = ((w1 * x ** 2 + w2 * x + b - y) ** 2).mean()
        loss.backward()
        for p in (w1, w2, b):
            p.data = p.data - lr * p.grad.data
            p.grad.data.zero_()
    return [w1.item(), w2.item(), b.item()]


def test_fit_quadratic_correct(capsys):
    assert l04.check_fit_quadratic(fit_quadratic) == 1.0
    assert l04.check_fit_quadratic(fit_quadratic_old_idiom) == 1.0
    assert "correct" in capsys.readouterr().out


def test_fit_quadratic_no_reset_is_named(capsys):
    def no_reset(x, y, lr, num_steps):
        w1, w2, b = (torch.tensor(0.0, dtype=x.dtype, requires_grad=True) for _ in range(3))
        for _ in range(num_steps):
            ((w1 * x ** 2 + w2 * x + b - y) ** 2).mean().backward()
            with torch.no_grad():
                for p in (w1, w2, b):
                    p -= lr * p.grad
        return w1, w2, b
    assert l04.check_fit_quadratic(no_reset) < 1.0
    out = capsys.readouterr().out
    assert "expected" in out and "the gradients were not reset" in out


def test_fit_quadratic_sum_and_stub(capsys):
    def summed(x, y, lr, num_steps):
        w1, w2, b = (torch.tensor(0.0, dtype=x.dtype, requires_grad=True) for _ in range(3))
        for _ in range(num_steps):
            ((w1 * x ** 2 + w2 * x + b - y) ** 2).sum().backward()
            with torch.no_grad():
                for p in (w1, w2, b):
                    p -= lr * p.grad
                    p.grad.zero_()
        return w1, w2, b
    assert l04.check_fit_quadratic(summed) == 0
    assert "sum over the points" in capsys.readouterr().out
    assert l04.check_fit_quadratic(lambda x, y, lr, n: None) == 0
    assert "expected a tuple of 3 results, got None" in capsys.readouterr().out
