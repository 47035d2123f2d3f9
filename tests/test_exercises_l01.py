"""The checks of lesson 01 pass a correct answer and fail (0 points, with feedback) wrong ones and the stubs."""
from __future__ import annotations

from course.exercises import l01


def test_mae(capsys):
    assert l01.check_mae(lambda y_hat, y: (y_hat - y).abs().mean()) == 1
    assert "correct" in capsys.readouterr().out
    assert l01.check_mae(lambda y_hat, y: None) == 0                       # the stub
    assert "got None" in capsys.readouterr().out
    assert l01.check_mae(lambda y_hat, y: ((y_hat - y) ** 2).mean()) == 0  # MSE, not MAE
    assert "expected 2, got 4.66667" in capsys.readouterr().out


def test_mae_sum_instead_of_mean_gets_partial_credit_only(capsys):
    assert l01.check_mae(lambda y_hat, y: (y_hat - y).abs().sum()) < 1
    assert "expected" in capsys.readouterr().out


def test_loss_grid(capsys):
    def loss_grid(x, y, W, B):
        return ((W[..., None] * x + B[..., None] - y) ** 2).mean(dim=-1)

    assert l01.check_loss_grid(loss_grid) == 1
    assert "correct" in capsys.readouterr().out


def test_loss_grid_stub_and_wrong(capsys):
    assert l01.check_loss_grid(lambda x, y, W, B: None) == 0
    assert "got None" in capsys.readouterr().out

    def summed(x, y, W, B):
        return ((W[..., None] * x + B[..., None] - y) ** 2).sum(dim=-1)

    assert l01.check_loss_grid(summed) == 0
    assert "expected 38.6667, got 116" in capsys.readouterr().out

    def wrong_axis(x, y, W, B):        # averages over the grid instead of the examples
        return ((W[..., None] * x + B[..., None] - y) ** 2).mean(dim=0)

    assert l01.check_loss_grid(wrong_axis) == 0
    assert "expected shape" in capsys.readouterr().out
