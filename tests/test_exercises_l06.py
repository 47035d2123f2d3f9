"""The checks of lesson 06 pass a correct answer and fail (0 points, expected vs got) a wrong one
and the stub the notebook ships."""
import torch
from torch import nn

from course.exercises import l06


# ---- correct answers (the notebook's worked solutions) -------------------------------------
def fit_line(X, y, num_epochs, lr):
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    for _ in range(num_epochs):
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def momentum_step(w, grad, velocity, lr, momentum):
    velocity = momentum * velocity + grad
    return w - lr * velocity, velocity


def adam_step(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return w - lr * m_hat / (v_hat.sqrt() + eps), m, v


# ---- the stubs as shipped -------------------------------------------------------------------
def fit_line_stub(X, y, num_epochs, lr):
    model = None  # YOUR CODE
    return model


def momentum_step_stub(w, grad, velocity, lr, momentum):
    return None


def adam_step_stub(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    return None


def test_fit_line(capsys):
    assert l06.check_fit_line(fit_line) == 1.0
    assert "✔" in capsys.readouterr().out


def test_fit_line_wrong_and_stub(capsys):
    untrained = lambda X, y, num_epochs, lr: nn.Linear(1, 1)  # noqa: E731 - forgot the loop
    assert l06.check_fit_line(untrained) == 0
    assert "expected" in capsys.readouterr().out
    assert l06.check_fit_line(fit_line_stub) == 0
    out = capsys.readouterr().out
    assert "✘" in out and "got None" in out


def test_fit_line_crash_is_reported(capsys):
    def crashes(X, y, num_epochs, lr):
        raise RuntimeError("boom")
    assert l06.check_fit_line(crashes) == 0
    assert "RuntimeError: boom" in capsys.readouterr().out


def test_momentum_step(capsys):
    assert l06.check_momentum_step(momentum_step) == 1.0
    assert "✔" in capsys.readouterr().out


def test_momentum_step_wrong_and_stub(capsys):
    no_momentum = lambda w, grad, velocity, lr, momentum: (w - lr * grad, velocity)  # noqa: E731
    assert l06.check_momentum_step(no_momentum) == 0
    assert "expected" in capsys.readouterr().out
    assert l06.check_momentum_step(momentum_step_stub) == 0
    assert "expected a tuple of 2 results, got None" in capsys.readouterr().out


def test_adam_step(capsys):
    assert l06.check_adam_step(adam_step) == 1.0
    assert "✔" in capsys.readouterr().out


def test_adam_step_wrong_and_stub(capsys):
    def no_bias_correction(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        return w - lr * m / (v.sqrt() + eps), m, v
    assert l06.check_adam_step(no_bias_correction) == 0
    out = capsys.readouterr().out
    assert "expected" in out and "got" in out
    assert l06.check_adam_step(adam_step_stub) == 0
    assert "got None" in capsys.readouterr().out
