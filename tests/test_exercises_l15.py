"""The checks of lesson 15: a correct answer passes, a wrong one and the shipped stub fail clearly."""
from __future__ import annotations

import torch

from course.exercises import l15


def stub(*args):
    """What the notebook ships: the learner has not written anything yet."""
    return None


# ---------------------------------------------------------------------------- un-normalise
def good_unnormalize(X, mean, std):
    mean = torch.tensor(mean).view(1, 3, 1, 1)                 # one value per channel
    std = torch.tensor(std).view(1, 3, 1, 1)
    return X * std + mean


def test_unnormalize(capsys):
    assert l15.unnormalize(good_unnormalize) == 1.0
    assert "correct" in capsys.readouterr().out


def test_unnormalize_wrong(capsys):
    # normalises a second time instead of undoing it
    again = lambda X, m, s: (X - torch.tensor(m).view(1, 3, 1, 1)) / torch.tensor(s).view(1, 3, 1, 1)
    assert l15.unnormalize(again) == 0
    assert "expected" in capsys.readouterr().out
    # mean and std of shape (3,) broadcast against the width: an error for W != 3 ...
    assert l15.unnormalize(lambda X, m, s: X * torch.tensor(s) + torch.tensor(m)) == 0
    out = capsys.readouterr().out
    assert "reshape them to (1, 3, 1, 1)" in out and "not with the width" in out


def test_unnormalize_wrong_broadcast_that_runs(capsys):
    # ... and silently wrong numbers when W == 3: caught by the case with W = 3
    def width_aligned(X, m, s):
        if X.shape[-1] != 3:
            return good_unnormalize(X, m, s)
        return X * torch.tensor(s) + torch.tensor(m)

    assert 0 < l15.unnormalize(width_aligned) < 1.0
    assert "3/4 cases" in capsys.readouterr().out


def test_unnormalize_stub(capsys):
    assert l15.unnormalize(stub) == 0
    assert "got None" in capsys.readouterr().out


# ---------------------------------------------------------------------------- per-class accuracy
def good_per_class(y_true, y_pred, num_classes):
    return torch.stack([(y_pred[y_true == c] == c).float().mean() for c in range(num_classes)])


def good_per_class_bincount(y_true, y_pred, num_classes):
    hits = torch.bincount(y_true[y_pred == y_true], minlength=num_classes)
    return hits / torch.bincount(y_true, minlength=num_classes)


def test_per_class_accuracy(capsys):
    assert l15.per_class_accuracy(good_per_class) == 1.0
    assert l15.per_class_accuracy(good_per_class_bincount) == 1.0
    assert capsys.readouterr().out.count("correct") == 2


def test_per_class_accuracy_wrong(capsys):
    precision = lambda y, p, k: torch.stack([(y[p == c] == c).float().mean() for c in range(k)])
    assert l15.per_class_accuracy(precision) == 0
    assert "this is the precision" in capsys.readouterr().out
    overall = lambda y, p, k: torch.full((k,), (y == p).float().mean().item())
    assert l15.per_class_accuracy(overall) == 0
    assert "case 1 (" in (out := capsys.readouterr().out) and "expected 1, got 0.666667 at index (1,)" in out
    counts = lambda y, p, k: torch.bincount(y[p == y], minlength=k)     # hits, not fractions
    assert l15.per_class_accuracy(counts) == 0
    assert "expected 1, got 2 at index (1,)" in capsys.readouterr().out


def test_per_class_accuracy_stub(capsys):
    assert l15.per_class_accuracy(stub) == 0
    assert "got None" in capsys.readouterr().out


# ---------------------------------------------------------------------------- confusion matrix
def good_confusion(y_true, y_pred, num_classes):
    counts = torch.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def test_confusion_matrix(capsys):
    assert l15.confusion_matrix(good_confusion) == 1.0
    assert "correct" in capsys.readouterr().out


def test_confusion_matrix_transposed(capsys):
    assert l15.confusion_matrix(lambda y, p, k: good_confusion(y, p, k).T) == 0
    assert "rows and columns are swapped" in capsys.readouterr().out


def test_confusion_matrix_without_minlength(capsys):
    no_minlength = lambda y, p, k: torch.bincount(y * k + p).view(k, k)
    assert 0 < l15.confusion_matrix(no_minlength) < 1.0
    out = capsys.readouterr().out
    assert "case 3" in out and "pass minlength=4*4" in out


def test_confusion_matrix_wrong_index(capsys):
    # y_true + y_pred * C is the transpose too; y_true * y_pred is just wrong
    assert l15.confusion_matrix(lambda y, p, k: torch.bincount(y + p * k, minlength=k * k).view(k, k)) == 0
    assert "rows and columns are swapped" in capsys.readouterr().out
    assert l15.confusion_matrix(lambda y, p, k: torch.bincount(y * p, minlength=k * k).view(k, k)) == 0
    assert "expected" in capsys.readouterr().out


def test_confusion_matrix_stub(capsys):
    assert l15.confusion_matrix(stub) == 0
    assert "got None" in capsys.readouterr().out
