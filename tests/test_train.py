import pandas as pd
import pytest
import torch
from torch import nn

from course import data, train


def _problem(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 1, 4, 4, generator=g)
    y = (X.flatten(1).sum(1) > 0).long()
    return X, y


def _model():
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 2))


def test_set_seed_makes_runs_repeatable():
    train.set_seed(3)
    a = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    train.set_seed(3)
    b = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


def test_fit_learns_and_returns_history(tmp_path):
    train.set_seed(0)
    X, y = _problem()
    loader = data.InMemoryLoader(X, y, 32)
    test_loader = data.InMemoryLoader(*_problem(128, 1), 64, shuffle=False)
    ckpt = tmp_path / "best.pt"
    history = train.fit(_model(), loader, test_loader, num_epochs=4, lr=0.1, checkpoint=ckpt,
                        live_plot=False, progress=False)
    assert isinstance(history, pd.DataFrame) and len(history) == 4
    assert {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"} <= set(history)
    assert history.train_loss.iloc[-1] < history.train_loss.iloc[0]
    assert history.test_acc.iloc[-1] > 0.8
    saved = torch.load(ckpt, weights_only=True)
    assert saved["test_acc"] == pytest.approx(history.test_acc.max())


def test_checkpoint_only_on_new_best(tmp_path, monkeypatch):
    saves = []
    monkeypatch.setattr(train, "save_checkpoint", lambda path, model, **kw: saves.append(kw["epoch"]))
    accs = iter([0.5, 0.7, 0.6, 0.9])
    monkeypatch.setattr(train, "evaluate", lambda *a, **k: {"loss": 1.0, "acc": next(accs)})
    X, y = _problem(32)
    train.fit(_model(), data.InMemoryLoader(X, y, 16), [(X, y)], num_epochs=4, checkpoint=tmp_path / "c.pt",
              live_plot=False, progress=False)
    assert saves == [1, 2, 4]


def test_load_or_train(tmp_path, capsys):
    path = tmp_path / "m.pt"
    model = _model()
    calls = []

    def fit_it():
        calls.append(1)
        train.save_checkpoint(path, model, epoch=1, test_acc=0.9)
        return "trained"

    assert train.load_or_train(model, path, fit_it) == "trained"
    fresh = _model()
    extras = train.load_or_train(fresh, path, fit_it)
    assert calls == [1] and extras["test_acc"] == 0.9 and "Loaded" in capsys.readouterr().out
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    train.load_or_train(fresh, path, fit_it, retrain=True)
    assert calls == [1, 1]


def _fixed_model():
    """Logits = x @ W.T with W = [[1, 0], [0, 1]] and no bias: the logits are the inputs."""
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    return model


def test_evaluate_against_a_hand_computed_loss_and_accuracy():
    import math

    X = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [3.0, 0.0]])
    y = torch.tensor([0, 0, 1, 0])
    # Cross-entropy of logits (a, b) with label k: log(e^a + e^b) - logit_k.
    losses = [math.log(math.exp(2) + 1) - 2,        # right
              math.log(1 + math.exp(1)) - 0,        # wrong (predicts 1)
              math.log(2 * math.e) - 1,             # a tie: argmax picks class 0, wrong
              math.log(math.exp(3) + 1) - 3]        # right
    batches = [(X[:3], y[:3]), (X[3:], y[3:])]  # uneven batches: the mean is over samples
    result = train.evaluate(_fixed_model(), batches)
    assert result["loss"] == pytest.approx(sum(losses) / 4, rel=1e-6)
    assert result["acc"] == 0.5
    labels, preds = train.predict(_fixed_model(), batches)
    assert labels.tolist() == [0, 0, 1, 0] and preds.tolist() == [0, 1, 0, 0]
    mse = train.evaluate(_fixed_model(), batches, loss_fn=lambda out, t: (out[:, 0] - t).pow(2).mean())
    assert mse["loss"] == pytest.approx((4 + 0 + 0 + 9) / 4)


def test_per_class_accuracy_and_an_empty_loader():
    acc = train.per_class_accuracy(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), ["a", "b"])
    assert acc.to_dict() == {"a": 0.5, "b": 1.0}
    with pytest.raises(ValueError, match="empty"):
        train.evaluate(_model(), [])


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    cm = train.confusion_matrix(torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 0, 2, 2]), 4)
    assert cm.dtype == torch.long and cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    y, y_hat = torch.randint(0, 5, (300,)), torch.randint(0, 5, (300,))
    cm = train.confusion_matrix(y, y_hat)
    assert cm.sum(1).tolist() == torch.bincount(y, minlength=5).tolist()
    assert torch.allclose(cm.diag() / cm.sum(1), torch.tensor(train.per_class_accuracy(y, y_hat).values, dtype=torch.float32))
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        train.confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="2 labels but y_hat has 1"):
        train.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]))


def test_grad_norms_and_parameter_count():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model(torch.randn(5, 4)).sum().backward()
    norms = train.layer_grad_norms(model)
    assert list(norms) == ["0", "2"] and all(v > 0 for v in norms.values())
    assert train.count_parameters(model) == 4 * 3 + 3 + 3 * 2 + 2


def test_one_precision_policy(monkeypatch):
    """fit(amp=...) and train.autocast share train.precision; lessons and scripts do not choose again."""
    import re

    from course.paths import ROOT

    assert train.precision("cpu") is None and train.precision("cuda", False) is None
    assert train.precision("cuda", "fp16") == "fp16" and train.precision("cuda", "bf16") == "bf16"
    for native, expected in ((True, "bf16"), (False, "fp16")):
        monkeypatch.setattr(train, "_native_bf16", lambda native=native: native)
        assert train.precision(torch.device("cuda", 0)) == expected
    with train.autocast("cpu", True):   # a no-op context on the CPU
        assert not torch.is_autocast_enabled()
    choosing = re.compile(r"get_device_capability|is_bf16_supported")
    lessons = sorted((ROOT / "notebooks").glob("1[45]_*.ipynb"))
    assert len(lessons) == 2
    for path in [*lessons, ROOT / "notebooks" / "scripts" / "ddp_cifar.py"]:
        assert not choosing.search(path.read_text()), f"{path.name} chooses the precision itself"
    for path in lessons:
        assert "torch.autocast(" not in path.read_text(), f"{path.name}: use train.autocast / fit(amp=...)"
