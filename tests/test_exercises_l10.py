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


def test_num_parameters(capsys):
    sizes = l10.LAYER_SIZES
    count = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    assert l10.num_parameters(count) == 1.0
    assert "correct" in capsys.readouterr().out


def test_num_parameters_wrong(capsys):
    sizes = l10.LAYER_SIZES
    weights_only = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    assert l10.num_parameters(weights_only) == 0
    out = capsys.readouterr().out
    assert f"got {weights_only}" in out and "expected" in out


def test_num_parameters_stub(capsys):
    assert l10.num_parameters(None) == 0
    assert "got None" in capsys.readouterr().out
