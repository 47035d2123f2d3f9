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


def test_loss_grid_double_loop_fails_on_the_speed_case(capsys, monkeypatch):
    """The lesson's loss_grid_loops is right but slow: the 1000 x 1000 speed case times it out.
    (The limit is lowered here so that the test itself stays quick.)"""
    import time

    import torch.nn.functional as F

    monkeypatch.setattr(l01, "SPEED_LIMIT", 1.0)

    def double_loop(x, y, W, B):
        L = W.new_empty(W.shape)
        for i in range(W.shape[0]):
            for j in range(W.shape[1]):
                L[i, j] = F.mse_loss(x * W[i, j] + B[i, j], y)
        return L

    start = time.perf_counter()
    assert l01.check_loss_grid(double_loop) == 0
    assert time.perf_counter() - start < 5
    out = capsys.readouterr().out
    assert "took longer than 1 s, the time limit" in out and "broadcasting" in out


def test_loss_grid_broadcast_is_well_within_the_time_limit():
    import time

    start = time.perf_counter()
    ((lambda x, y, W, B: ((W[..., None] * x + B[..., None] - y) ** 2).mean(dim=-1))(*l01._speed_case()))
    assert time.perf_counter() - start < l01.SPEED_LIMIT / 2
