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
