"""The checks of lesson 10: a correct answer passes, a wrong one and the shipped stub fail clearly."""
from __future__ import annotations

import torch

from course.exercises import l10


def stub(*args):
    """What the notebook ships: the learner has not written anything yet."""
    return None


def good_softmax(z):
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def naive_softmax(z):
    return torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True)


def good_cross_entropy(z, y):
    log_probs = z - torch.logsumexp(z, dim=1, keepdim=True)
    return -log_probs[torch.arange(len(y)), y].mean()


def naive_cross_entropy(z, y):
    return -torch.log(naive_softmax(z))[torch.arange(len(y)), y].mean()


def test_softmax(capsys):
    assert l10.softmax(good_softmax) == 1.0
    assert "correct" in capsys.readouterr().out


def test_softmax_wrong(capsys):
    assert l10.softmax(lambda z: torch.sigmoid(z)) == 0
    assert "expected" in capsys.readouterr().out
    # right on small logits, overflows on the large ones: partial credit and the reason
    assert l10.softmax(naive_softmax) < 1.0
    out = capsys.readouterr().out
    assert "2/4 cases" in out and "expected" in out and "got nan" in out


def test_softmax_stub(capsys):
    assert l10.softmax(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_cross_entropy(capsys):
    assert l10.cross_entropy(good_cross_entropy) == 1.0
    assert "correct" in capsys.readouterr().out


def test_cross_entropy_wrong(capsys):
    # forgets the minus sign
    assert l10.cross_entropy(lambda z, y: -good_cross_entropy(z, y)) == 0
    assert "expected" in capsys.readouterr().out
    # the sum instead of the mean (right only where the batch has one row)
    assert l10.cross_entropy(lambda z, y: good_cross_entropy(z, y) * len(y)) < 1.0
    assert "expected" in capsys.readouterr().out
    # right on small logits, inf or nan on the large ones
    assert l10.cross_entropy(naive_cross_entropy) < 1.0
    assert "expected" in capsys.readouterr().out


def test_cross_entropy_stub(capsys):
    assert l10.cross_entropy(stub) == 0
    assert "got None" in capsys.readouterr().out



# --------------------------------------------------------------------------------------------
# Exercise 3: train_epoch and evaluate
# --------------------------------------------------------------------------------------------
train_epoch, evaluate = l10.train_epoch, l10.evaluate   # the lesson's solution (the package's stand-in)


def test_train_evaluate_correct(capsys):
    assert l10.check_train_evaluate(train_epoch, evaluate) == 1.0
    out = capsys.readouterr().out
    assert "✔ train_epoch" in out and "✔ evaluate" in out


def test_train_evaluate_the_lessons_own_versions_pass():
    assert l10.check_train_evaluate(l10.train_epoch, l10.evaluate) == 1.0


def test_evaluate_without_eval_mode_fails(capsys):
    @torch.no_grad()
    def no_eval(model, loader):
        correct = sum((model(X).argmax(dim=1) == y).sum().item() for X, y in loader)
        return correct / sum(len(y) for _, y in loader)
    assert l10.check_train_evaluate(train_epoch, no_eval) == 0.5
    assert "call model.eval()" in capsys.readouterr().out


def test_evaluate_without_no_grad_fails(capsys):
    def records(model, loader):
        model.eval()
        correct = sum((model(X).argmax(dim=1) == y).sum().item() for X, y in loader)
        return correct / sum(len(y) for _, y in loader)
    assert l10.check_train_evaluate(train_epoch, records) == 0.5
    assert "recorded an autograd graph" in capsys.readouterr().out


def test_evaluate_percentage_and_backward_fail(capsys):
    def percent(model, loader):
        return 100 * evaluate(model, loader)
    assert l10.check_train_evaluate(train_epoch, percent) == 0.5
    assert "a percentage?" in capsys.readouterr().out

    def with_backward(model, loader):
        model.eval()
        for X, y in loader:
            torch.nn.functional.cross_entropy(model(X), y).backward()
        return evaluate(model, loader)
    assert l10.check_train_evaluate(train_epoch, with_backward) == 0.5
    out = capsys.readouterr().out
    assert "recorded an autograd graph" in out


def test_train_epoch_wrong(capsys):
    def no_train_mode(model, loader, loss_fn, optimizer):
        total = 0.0
        for X, y in loader:
            loss = loss_fn(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        return total / len(loader)
    assert l10.check_train_evaluate(no_train_mode, evaluate) == 0.5
    assert "call model.train() first" in capsys.readouterr().out

    def no_step(model, loader, loss_fn, optimizer):
        model.train()
        for X, y in loader:
            loss = loss_fn(model(X), y)
            loss.backward()
        return loss.item()
    assert l10.check_train_evaluate(no_step, evaluate) == 0.5
    assert "weights have not changed" in capsys.readouterr().out

    def wrong_sign(model, loader, loss_fn, optimizer):
        model.train()
        for X, y in loader:
            loss = -loss_fn(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return -loss.item()
    assert l10.check_train_evaluate(wrong_sign, evaluate) == 0.5
    assert "the loss did not fall" in capsys.readouterr().out


def test_train_evaluate_stubs(capsys):
    assert l10.check_train_evaluate(stub, stub) == 0
    out = capsys.readouterr().out
    assert "should return the mean training loss" in out and "got None" in out
