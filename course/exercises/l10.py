"""Checks for lesson 10 (softmax classifier on MNIST).

Exercises:
    1. ``softmax(fn)``: a numerically stable softmax over the last dimension.
    2. ``cross_entropy(fn)``: mean cross-entropy from raw logits, via log-sum-exp.
    3. ``check_train_evaluate(train_epoch, evaluate, device)``: one training epoch (falling loss,
       training mode) and an evaluation (eval mode, no autograd graph, the right accuracy).

PyTorch is the oracle: ``torch.softmax``, ``torch.nn.functional.cross_entropy`` and a freshly
built ``nn.Sequential`` give the expected answers; for exercise 3 a probe layer inside the
network reports the mode and the autograd state it ran in. Each check
prints one line (expected vs got on failure) and returns the points earned; it never raises.
"""
from __future__ import annotations

import torch

from course import check

def _logit_cases(seed: int = 10) -> list[tuple[torch.Tensor]]:
    """Logit batches, small and large: a naive ``exp`` overflows on the large ones."""
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(4, 10, generator=g, dtype=torch.float64),),
        (torch.randn(3, 5, generator=g, dtype=torch.float64) * 10,),
        (torch.tensor([[1000.0, 0.0, -1000.0], [-5.0, -5.0, -5.0]], dtype=torch.float64),),
        (torch.tensor([[800.0, 801.0, 799.0]], dtype=torch.float64),),
    ]


def softmax(fn) -> float:
    """Check ``fn(z)``: (N, C) logits -> (N, C) probabilities, stable for large logits.

    Reference: ``torch.softmax(z, dim=1)``. The last two cases have logits near 1000, where
    ``exp`` overflows to ``inf`` unless the row maximum is subtracted first.
    """
    return check.function("softmax", fn, lambda z: torch.softmax(z, dim=1), _logit_cases(),
                          atol=1e-8, rtol=1e-6)


def cross_entropy(fn) -> float:
    """Check ``fn(z, y)``: (N, C) logits and (N,) int64 labels -> the mean cross-entropy (a scalar).

    Reference: ``torch.nn.functional.cross_entropy(z, y)``; the large-logit cases need log-sum-exp.
    """
    g = torch.Generator().manual_seed(11)
    cases = []
    for (z,) in _logit_cases():
        y = torch.randint(0, z.shape[1], (z.shape[0],), generator=g)
        cases.append((z, y))
    return check.function("cross_entropy", fn, torch.nn.functional.cross_entropy, cases,
                          atol=1e-8, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Exercise 3: train_epoch and evaluate
# --------------------------------------------------------------------------------------------
def train_epoch(model, loader, loss_fn, optimizer) -> float:
    """The lesson's version (the notebook uses it until the learner's passes): one pass over
    ``loader`` in training mode; returns the mean training loss."""
    device = next(model.parameters()).device
    model.train()
    total, count = 0.0, 0
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


@torch.no_grad()
def evaluate(model, loader) -> float:
    """The lesson's version: accuracy of ``model`` on ``loader`` in eval mode, no graph."""
    device = next(model.parameters()).device
    model.eval()
    correct, count = 0, 0
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        correct += (model(X).argmax(dim=1) == y).sum().item()
        count += len(y)
    return correct / count


class _Probe(torch.nn.Module):
    """An identity layer that records, at every call, (training mode?, autograd recording?)."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return x


def _dropout_problem(device, seed: int):
    """A 3-class problem on (N, 1, 4, 4) inputs and a small net with dropout and a probe."""
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(100)
    X = torch.randn(192, 1, 4, 4, generator=g)
    y = (X.flatten(1) @ torch.randn(16, 3, generator=g)).argmax(dim=1)
    loader = DataLoader(TensorDataset(X.to(device), y.to(device)), batch_size=32)
    torch.manual_seed(seed)
    probe = _Probe()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                torch.nn.Dropout(0.5), probe, torch.nn.Linear(32, 3)).to(device)
    return model, probe, loader


@torch.no_grad()
def _eval_loss(model, loader) -> float:
    was = model.training
    model.eval()
    losses = [torch.nn.functional.cross_entropy(model(X), y, reduction="sum").item() for X, y in loader]
    model.train(was)
    return sum(losses) / len(loader.dataset)


def _as_float(value):
    """``value`` as a Python float, or None (tensors with several numbers, None, ...)."""
    try:
        return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
    except Exception:  # noqa: BLE001
        return None


def _train_epoch_problem(train_epoch_fn, device) -> str | None:
    import math

    model, probe, loader = _dropout_problem(device, seed=1)
    start_loss = _eval_loss(model, loader)
    start = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    returned = []
    for epoch in range(1, 4):
        model.eval()                                   # a train_epoch must switch it back on
        probe.calls.clear()
        out = check.run_safely(train_epoch_fn, model, loader, torch.nn.CrossEntropyLoss(), optimizer)
        if out.error:
            return f"train_epoch(model, loader, loss_fn, optimizer) {out.error}"
        value = _as_float(out.value)
        if value is None or not math.isfinite(value):
            return (f"train_epoch should return the mean training loss (a number), got "
                    f"{check.describe(out.value)}")
        if not probe.calls:
            return "train_epoch never ran the model on a batch"
        if not all(training for training, _ in probe.calls):
            return ("train_epoch ran the model in eval mode (dropout off): call model.train() "
                    "first, because evaluate switches the model to eval mode")
        returned.append(value)
    if all(torch.equal(a, b.detach()) for a, b in zip(start, model.parameters())):
        return "after 3 epochs of train_epoch the weights have not changed: call optimizer.step()"
    end_loss = _eval_loss(model, loader)
    if not end_loss < 0.9 * start_loss or not returned[-1] < returned[0]:
        return (f"the loss did not fall: the loss on the training data went from {start_loss:.4f} "
                f"to {end_loss:.4f} in 3 epochs, and train_epoch returned "
                f"{', '.join(f'{v:.4f}' for v in returned)} (zero_grad, backward and step, in each batch?)")
    return None


def _evaluate_problem(evaluate_fn, device) -> str | None:
    model, probe, loader = _dropout_problem(device, seed=2)
    train_epoch(model, loader, torch.nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.2))
    expected = evaluate(model, loader)                 # eval mode, no graph: the reference
    model.train()                                      # evaluate must switch to eval mode itself
    for p in model.parameters():
        p.grad = None
    before = [p.detach().clone() for p in model.parameters()]
    probe.calls.clear()
    out = check.run_safely(evaluate_fn, model, loader)
    if out.error:
        return f"evaluate(model, loader) {out.error}"
    if probe.calls and any(training for training, _ in probe.calls):
        return ("evaluate ran the model in training mode, so dropout was active and the "
                "predictions were random: call model.eval() first")
    if probe.calls and any(recording for _, recording in probe.calls):
        return ("evaluate recorded an autograd graph (memory and time for nothing): run the "
                "model under torch.no_grad()")
    if any(p.grad is not None for p in model.parameters()):
        return "after evaluate some weights have a .grad: evaluate must not call backward"
    if not all(torch.equal(a, b.detach()) for a, b in zip(before, model.parameters())):
        return "evaluate changed the weights"
    value = _as_float(out.value)
    if value is None:
        return f"evaluate should return the accuracy (a number in [0, 1]), got {check.describe(out.value)}"
    why = check.compare(value, expected, atol=1e-9, rtol=0)
    if why:
        return f"accuracy: {why}" + (" (a percentage? return a share in [0, 1])" if value > 1 else "")
    return None


def check_train_evaluate(train_epoch_fn, evaluate_fn, device="cpu") -> float:
    """Check ``train_epoch(model, loader, loss_fn, optimizer)`` and ``evaluate(model, loader)``.

    Both run on a small 3-class problem with a network that has dropout and a probe layer that
    records the mode it runs in. ``train_epoch`` (called with the model in eval mode) must switch
    to training mode, return the mean loss and make the loss fall over 3 epochs; ``evaluate``
    (called in training mode) must switch to eval mode, record no autograd graph, leave weights
    and gradients alone and return the accuracy that ``torch.no_grad()`` + ``model.eval()`` give.
    Half a point each; prints one line per function.
    """
    device = torch.device(device)
    scores = []
    for name, fn, problem in (("train_epoch", train_epoch_fn, _train_epoch_problem),
                              ("evaluate", evaluate_fn, _evaluate_problem)):
        if not callable(fn):
            why = f"expected a function, got {check.describe(fn)}"
        else:
            outcome = check.run_safely(problem, fn, device, timeout=None)  # inner calls are timed
            why = outcome.error and f"the check failed to run ({outcome.error})" or outcome.value
        scores.append(check.report(name, why is None, 1, 0.5, why))
    return check.total(*scores)
