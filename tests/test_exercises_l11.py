"""The checks of lesson 11: a correct answer passes, wrong ones and the shipped stubs fail clearly.

PyTorch is the oracle where it has one: ``nn.init.kaiming_normal_`` and ``F.dropout`` must pass.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course.exercises import l11


def stub(*args):
    """What the notebook ships: the learner has not written anything yet."""
    return None


# --------------------------------------------------------------------------------------------
# Exercise 1: He initialisation
# --------------------------------------------------------------------------------------------
def good_kaiming(fan_in, fan_out):
    return torch.randn(fan_out, fan_in) * math.sqrt(2 / fan_in)


def test_kaiming_correct(capsys):
    assert l11.kaiming_normal(good_kaiming) == 1.0
    assert "✔ kaiming_normal: 6/6 cases correct" in capsys.readouterr().out


def test_kaiming_pytorch_and_uniform_pass():
    torch_he = lambda fan_in, fan_out: torch.nn.init.kaiming_normal_(  # noqa: E731
        torch.empty(fan_out, fan_in), nonlinearity="relu")
    assert l11.kaiming_normal(torch_he) == 1.0
    # the uniform version with the same variance is He initialisation too (kaiming_uniform_)
    uniform = lambda fan_in, fan_out: (torch.rand(fan_out, fan_in) * 2 - 1) * math.sqrt(6 / fan_in)  # noqa: E731
    assert l11.kaiming_normal(uniform) == 1.0


def test_kaiming_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    l11.kaiming_normal(good_kaiming)
    assert torch.equal(torch.rand(3), expected)


def test_kaiming_wrong_variances_fail(capsys):
    xavier = lambda fan_in, fan_out: torch.randn(fan_out, fan_in) * math.sqrt(2 / (fan_in + fan_out))  # noqa: E731
    assert l11.kaiming_normal(xavier) < 0.5
    out = capsys.readouterr().out
    assert "✘ kaiming_normal" in out and "expected variance 2 / fan_in" in out and "Xavier" in out

    lecun = lambda fan_in, fan_out: torch.randn(fan_out, fan_in) * math.sqrt(1 / fan_in)  # noqa: E731
    assert l11.kaiming_normal(lecun) < 0.5
    out = capsys.readouterr().out
    assert "1 / fan_in: ReLU zeroes half the units" in out

    std_as_var = lambda fan_in, fan_out: torch.randn(fan_out, fan_in) * (2 / fan_in)  # noqa: E731
    assert l11.kaiming_normal(std_as_var) < 0.5
    assert "square root of the variance" in capsys.readouterr().out

    fan_out = lambda fan_in, fan_out: torch.randn(fan_out, fan_in) * math.sqrt(2 / fan_out)  # noqa: E731
    assert l11.kaiming_normal(fan_out) < 1.0
    assert "use the number of inputs, fan_in" in capsys.readouterr().out


def test_kaiming_the_deep_stack_case_fails_for_a_small_variance(capsys):
    lecun = lambda fan_in, fan_out: torch.randn(fan_out, fan_in) * math.sqrt(1 / fan_in)  # noqa: E731
    l11.kaiming_normal(lecun)
    capsys.readouterr()
    assert l11._he_depth_case(lecun) is not None and "layer by layer" in l11._he_depth_case(lecun)
    assert l11._he_depth_case(good_kaiming) is None


def test_kaiming_wrong_shape_mean_and_constant_fail(capsys):
    transposed = lambda fan_in, fan_out: torch.randn(fan_in, fan_out) * math.sqrt(2 / fan_in)  # noqa: E731
    assert l11.kaiming_normal(transposed) < 0.5
    assert "(out_features, in_features)" in capsys.readouterr().out

    shifted = lambda fan_in, fan_out: good_kaiming(fan_in, fan_out) + 0.05  # noqa: E731
    assert l11.kaiming_normal(shifted) < 1.0
    assert "expected mean 0" in capsys.readouterr().out

    fixed = lambda fan_in, fan_out: torch.randn(  # noqa: E731
        fan_out, fan_in, generator=torch.Generator().manual_seed(0)) * math.sqrt(2 / fan_in)
    assert l11.kaiming_normal(fixed) < 1.0
    assert "same weights under two different seeds" in capsys.readouterr().out


def test_kaiming_stub_and_crash_fail(capsys):
    assert l11.kaiming_normal(stub) == 0
    assert "got None" in capsys.readouterr().out
    assert l11.kaiming_normal(lambda fan_in, fan_out: 1 / 0) == 0
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert l11.kaiming_normal("not a function") == 0
    assert "expected a function" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Exercise 2: early stopping
# --------------------------------------------------------------------------------------------
class GoodStopper:
    def __init__(self, patience):
        self.patience, self.best_loss, self.best_epoch = patience, float("inf"), 0
        self.epoch = self.waited = 0

    def step(self, val_loss):
        self.epoch += 1
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.waited = val_loss, self.epoch, 0
        else:
            self.waited += 1
        return self.waited >= self.patience


class StubStopper:
    """The class the notebook ships."""

    def __init__(self, patience):
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = 0

    def step(self, val_loss):
        return False


def test_early_stopping_correct(capsys):
    assert l11.early_stopping(GoodStopper) == 1.0
    assert "✔ EarlyStopping: 5/5 cases correct" in capsys.readouterr().out
    assert l11.early_stopping(l11.EarlyStopping) == 1.0


def test_early_stopping_off_by_one_epoch_fails(capsys):
    class FromZero(GoodStopper):
        def step(self, val_loss):
            stop = super().step(val_loss)
            if self.best_epoch == self.epoch:
                self.best_epoch -= 1
            return stop
    assert l11.early_stopping(FromZero) < 0.5
    out = capsys.readouterr().out
    assert "best_epoch after the last step" in out and "(epochs count from 1)" in out


def test_early_stopping_too_early_and_never_fail(capsys):
    class TooEarly(GoodStopper):                 # stops after patience - 1 misses
        def step(self, val_loss):
            super().step(val_loss)
            return self.waited >= self.patience - 1
    assert l11.early_stopping(TooEarly) < 0.5   # only the case that never stops passes
    assert "too early" in capsys.readouterr().out

    class TooLate(GoodStopper):                  # waits one epoch more
        def step(self, val_loss):
            super().step(val_loss)
            return self.waited > self.patience
    assert l11.early_stopping(TooLate) < 0.5
    out = capsys.readouterr().out
    assert "too late" in out or "never stops" in out

    class Never(GoodStopper):
        def step(self, val_loss):
            super().step(val_loss)
            return False
    assert l11.early_stopping(Never) < 0.5
    assert "never returned True (it never stops)" in capsys.readouterr().out


def test_early_stopping_ties_and_resets(capsys):
    class TiesImprove(GoodStopper):
        def step(self, val_loss):
            self.epoch += 1
            if val_loss <= self.best_loss:
                self.best_loss, self.best_epoch, self.waited = val_loss, self.epoch, 0
            else:
                self.waited += 1
            return self.waited >= self.patience
    assert l11.early_stopping(TiesImprove) == 0.8
    assert "a tie is no improvement" in capsys.readouterr().out

    class NoReset(GoodStopper):                  # counts every bad epoch since the start
        def step(self, val_loss):
            self.epoch += 1
            if val_loss < self.best_loss:
                self.best_loss, self.best_epoch = val_loss, self.epoch
            else:
                self.waited += 1
            return self.waited >= self.patience
    assert l11.early_stopping(NoReset) < 1.0
    assert "too early" in capsys.readouterr().out

    class KeepsTheLast:                          # stops right, but reports the last epoch
        def __init__(self, patience):
            self.inner = GoodStopper(patience)

        def step(self, val_loss):
            stop = self.inner.step(val_loss)
            self.best_epoch, self.best_loss = self.inner.epoch, val_loss
            return stop
    assert l11.early_stopping(KeepsTheLast) < 0.5
    assert "best_epoch after the last step: expected" in capsys.readouterr().out


def test_early_stopping_stub_and_broken_fail(capsys):
    assert l11.early_stopping(StubStopper) == 0
    out = capsys.readouterr().out
    assert "✘ EarlyStopping" in out and "never returned True" in out

    class Crashes(GoodStopper):
        def step(self, val_loss):
            raise RuntimeError("boom")
    assert l11.early_stopping(Crashes) == 0
    assert "RuntimeError: boom" in capsys.readouterr().out

    assert l11.early_stopping(stub) == 0
    assert "has no step(val_loss) method" in capsys.readouterr().out
    assert l11.early_stopping(None) == 0
    assert "expected a class" in capsys.readouterr().out


def test_the_reference_stopper_refuses_a_bad_patience():
    import pytest

    with pytest.raises(ValueError, match="patience"):
        l11.EarlyStopping(0)


# --------------------------------------------------------------------------------------------
# Exercise 3: inverted dropout
# --------------------------------------------------------------------------------------------
def good_dropout(x, p, training):
    if not training:
        return x
    mask = (torch.rand_like(x) >= p).to(x.dtype)
    return x * mask / (1 - p)


def test_dropout_correct_and_pytorch_pass(capsys):
    assert l11.dropout(good_dropout) == 1.0
    assert "✔ dropout: 4/4 cases correct" in capsys.readouterr().out
    assert l11.dropout(lambda x, p, training: F.dropout(x, p, training)) == 1.0


def test_dropout_not_inverted_fails(capsys):
    def plain(x, p, training):
        return x * (torch.rand_like(x) >= p) if training else x
    assert l11.dropout(plain) == 0.25      # only the eval-mode case passes
    out = capsys.readouterr().out
    assert "expected the mean to stay" in out and "divides them by 1 - p" in out


def test_dropout_in_eval_mode_fails(capsys):
    def always(x, p, training):
        return good_dropout(x, p, True)
    assert l11.dropout(always) < 1.0
    assert "must return x unchanged" in capsys.readouterr().out

    def scaled_in_eval(x, p, training):        # the old, non-inverted convention at test time
        return good_dropout(x, p, True) if training else x * (1 - p)
    assert l11.dropout(scaled_in_eval) < 1.0
    assert "dropout is off in eval mode" in capsys.readouterr().out


def test_dropout_keep_probability_swapped_fails(capsys):
    def swapped(x, p, training):
        if not training:
            return x
        return x * (torch.rand_like(x) < p) / p if p > 0 else x
    assert l11.dropout(swapped) == 0.5     # p = 0.5 cannot tell keep from drop
    assert "p is the share to drop" in capsys.readouterr().out


def test_dropout_in_place_and_fixed_mask_fail(capsys):
    def in_place(x, p, training):
        if training:
            x.mul_((torch.rand_like(x) >= p) / (1 - p))
        return x
    assert l11.dropout(in_place) < 1.0
    assert "changed x in place" in capsys.readouterr().out

    def fixed_mask(x, p, training):
        if not training:
            return x
        g = torch.Generator().manual_seed(0)
        return x * (torch.rand(x.shape, generator=g) >= p) / (1 - p)
    assert l11.dropout(fixed_mask) < 1.0
    assert "same units under two different seeds" in capsys.readouterr().out


def test_dropout_stub_fails(capsys):
    assert l11.dropout(stub) == 0
    assert "got None" in capsys.readouterr().out
