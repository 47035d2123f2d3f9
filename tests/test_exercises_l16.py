"""The checks of lesson 16: a correct answer passes, a wrong one and the shipped stub fail clearly."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course.exercises import l16


def stub(*args):
    """What the notebook ships: the learner has not written anything yet."""
    return None


# ---------------------------------------------------------------------------- label smoothing
def good_smoothing(logits, y, eps):
    log_p = F.log_softmax(logits, dim=1)                       # (N, C)
    nll = -log_p[torch.arange(len(y)), y]                      # (N,)
    uniform = -log_p.mean(dim=1)                               # (N,) cross-entropy vs 1/C each
    return ((1 - eps) * nll + eps * uniform).mean()


def test_label_smoothing(capsys):
    assert l16.label_smoothing(good_smoothing) == 1.0
    assert "correct" in capsys.readouterr().out


def test_label_smoothing_wrong(capsys):
    # forgets the eps / C spread over all classes: right only for eps = 0
    assert l16.label_smoothing(lambda z, y, eps: (1 - eps) * F.cross_entropy(z, y)) < 1.0
    out = capsys.readouterr().out
    assert "expected 5.7528, got 5.2591" in out


def test_label_smoothing_stub(capsys):
    assert l16.label_smoothing(stub) == 0
    assert "got None" in capsys.readouterr().out


# ---------------------------------------------------------------------------- random flips
def good_flip(X):
    mirror = torch.rand(len(X)) < 0.5                          # (N,) one coin per image
    return torch.where(mirror.view(-1, 1, 1, 1), X.flip(3), X)


def test_random_flip(capsys):
    assert l16.random_flip(good_flip) == 1.0
    assert "correct" in capsys.readouterr().out


def test_random_flip_wrong(capsys):
    assert l16.random_flip(lambda X: X.flip(3)) == 0           # mirrors every image
    assert "expected about half of the 400 images mirrored" in capsys.readouterr().out
    upside_down = lambda X: torch.where((torch.rand(len(X)) < 0.5).view(-1, 1, 1, 1), X.flip(2), X)
    assert l16.random_flip(upside_down) == 0
    assert "flipped upside down" in capsys.readouterr().out

    def same_every_call(X):
        coins = torch.rand(len(X), generator=torch.Generator().manual_seed(0)) < 0.5
        return torch.where(coins.view(-1, 1, 1, 1), X.flip(3), X)

    assert l16.random_flip(same_every_call) == 0
    assert "two calls mirrored exactly the same images" in capsys.readouterr().out
    assert l16.random_flip(lambda X: X + 0.1) == 0
    assert "neither itself nor its mirror image" in capsys.readouterr().out


def test_random_flip_stub(capsys):
    assert l16.random_flip(stub) == 0
    assert "expected a tensor, got None" in capsys.readouterr().out


# ---------------------------------------------------------------------------- shards
def good_shard(n, rank, world_size):
    indices = list(range(n))
    total = -(-n // world_size) * world_size                   # round up to a multiple
    while len(indices) < total:
        indices += indices[: total - len(indices)]
    return indices[rank::world_size]


def test_shard_indices(capsys):
    assert l16.shard_indices(good_shard) == 1.0
    assert "correct" in capsys.readouterr().out


def test_shard_indices_wrong(capsys):
    assert l16.shard_indices(lambda n, r, w: list(range(n))[r::w]) < 1.0   # no padding
    assert "expected shape (3,), got shape (2,)" in capsys.readouterr().out
    assert l16.shard_indices(lambda n, r, w: list(range(n))[r * n // w:(r + 1) * n // w]) < 1.0
    assert "expected" in capsys.readouterr().out


def test_shard_indices_stub(capsys):
    assert l16.shard_indices(stub) == 0
    assert "got None" in capsys.readouterr().out


# ----------------------------------------------------- the lesson text quotes PyTorch's targets
def _smoothed_targets(eps, classes=10):
    """The soft target PyTorch's label_smoothing trains towards, read from the gradient:
    d cross_entropy / d logits = softmax(logits) - target."""
    logits = torch.zeros(1, classes, requires_grad=True)
    F.cross_entropy(logits, torch.tensor([3]), label_smoothing=eps).backward()
    target = (torch.softmax(logits, dim=1) - logits.grad)[0]
    return round(target[3].item(), 4), round(target[0].item(), 4)


def _markdown(lesson):
    import nbformat

    from course.paths import ROOT
    path = next((ROOT / "notebooks").glob(f"{lesson}_*.ipynb"))
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def test_label_smoothing_targets_in_the_lessons_are_pytorchs():
    assert _smoothed_targets(0.2) == (0.82, 0.02)       # 1 - eps + eps/K, and eps/K
    assert _smoothed_targets(0.1) == (0.91, 0.01)
    text16 = _markdown("16")
    assert "= 0.82 for the true class" in text16 and "0.02 for each other class" in text16
    assert "targets of 0.8 " not in text16
    assert "0.9 + 0.01 = 0.91" in _markdown("14")
