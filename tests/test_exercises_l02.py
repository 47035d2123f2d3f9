"""The checks of lesson 02 pass a correct answer and fail (0 points, with feedback) wrong ones and the stubs."""
from __future__ import annotations

import numpy as np
import torch

from course.exercises import l02


def test_mae_gradient(capsys):
    assert l02.check_mae_gradient(lambda x, y, w: (torch.sign(x * w - y) * x).mean()) == 1
    assert "correct" in capsys.readouterr().out
    assert l02.check_mae_gradient(lambda x, y, w: None) == 0                      # the stub
    assert "got None" in capsys.readouterr().out
    # forgot the factor x: right only where every error is 0, so partial credit at most
    assert l02.check_mae_gradient(lambda x, y, w: torch.sign(x * w - y).mean()) < 1
    assert "expected -2, got -1" in capsys.readouterr().out
    assert l02.check_mae_gradient(lambda x, y, w: torch.tensor(0.5)) == 0         # a made-up constant
    assert "expected" in capsys.readouterr().out


def test_mae_gradient_sign_at_zero_matters(capsys):
    def sign_without_zero(x, y, w):
        return (torch.where(x * w - y >= 0, 1.0, -1.0) * x).mean()

    assert l02.check_mae_gradient(sign_without_zero) < 1
    assert "case 3" in capsys.readouterr().out


def test_max_stable_lr(capsys):
    assert l02.check_max_stable_lr(lambda x: 1 / (x ** 2).mean()) == 1
    assert "correct" in capsys.readouterr().out
    assert l02.check_max_stable_lr(lambda x: None) == 0
    assert "got None" in capsys.readouterr().out
    assert l02.check_max_stable_lr(lambda x: 2 / (x ** 2).mean()) == 0           # 2 / a instead of 2 / (2a)
    assert "expected 0.214286, got 0.428571" in capsys.readouterr().out


def _ema(values, beta, correct=True):
    s, out = 0.0, []
    for t, v in enumerate(values, start=1):
        s = beta * s + (1 - beta) * float(v)
        out.append(s / (1 - beta ** t) if correct else s)
    return np.array(out)


def test_ema(capsys):
    assert l02.check_ema(_ema) == 1
    assert "correct" in capsys.readouterr().out


def test_ema_stub_and_wrong(capsys):
    assert l02.check_ema(lambda values, beta: None) == 0
    assert "got None" in capsys.readouterr().out
    assert l02.check_ema(lambda values, beta: _ema(values, beta, correct=False)) == 0   # no correction
    assert "expected 1, got 0.1" in capsys.readouterr().out

    def corrected_state(values, beta):     # stores the corrected value back into the state
        s, out = 0.0, []
        for t, v in enumerate(values, start=1):
            s = (beta * s + (1 - beta) * float(v)) / (1 - beta ** t)
            out.append(s)
        return out

    assert l02.check_ema(corrected_state) == 0
    assert "expected" in capsys.readouterr().out
