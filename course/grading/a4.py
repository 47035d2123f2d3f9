"""Graded checks for assignment A4, CNNs (14 points).

===============  ===============================================  ======  =========================
check            learner's object                                 points  parts
===============  ===============================================  ======  =========================
inception_block  ``InceptionBlock(in_channels)``: (N, C, H, W)    5       shape 2, parameters 2,
                 -> (N, 88, H, W), four branches concatenated             gradients 1
residual_block   ``ResidualBlock(channels)``: ``relu(x +          5       shape 1, parameters 1,
                 conv2(relu(conv1(x))))``, 3x3 convs, padding 1           skip 1, values 2
train_steps      ``train_steps(model, X, y, num_steps, lr) ->     4       returns 1, falls 2,
                 losses``: full-batch SGD with momentum 0.9 on            trajectory 1
                 the cross-entropy
===============  ===============================================  ======  =========================

The Inception block (GoogLeNet's, as in lesson 12) has four branches, each keeping H and W:
1x1 conv to 16 channels; 1x1 to 16 then 5x5 (padding 2) to 24; 1x1 to 16, 3x3 (padding 1) to
24, 3x3 (padding 1) to 24; 3x3 average pool (stride 1, padding 1) then 1x1 to 24. Concatenated:
16 + 24 + 24 + 24 = 88 channels, and ``72 * in_channels + 18,384`` parameters (all convs with bias).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from course import check
from course.grading import Question, graded, loss_list, shape_of, shapes

__all__ = ["inception_block", "residual_block", "train_steps", "inception_parameters"]


def inception_parameters(in_channels: int) -> int:
    """Parameters of the specified Inception block: 72 * in_channels + 18,384."""
    conv = lambda c_in, c_out, k: c_in * c_out * k * k + c_out  # noqa: E731 - weights + biases
    c = in_channels
    return (conv(c, 16, 1)
            + conv(c, 16, 1) + conv(16, 24, 5)
            + conv(c, 16, 1) + conv(16, 24, 3) + conv(24, 24, 3)
            + conv(c, 24, 1))


def _build(cls, arg, seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(arg)


def _grads(model, x, g):
    model.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    (model(x) * g).sum().backward()
    return x.grad, [(name, p.grad) for name, p in model.named_parameters()]


# --------------------------------------------------------------------------------------------
# Q1: the Inception block
# --------------------------------------------------------------------------------------------
# (seed, in_channels, N, H, W)
INCEPTION_VISIBLE = [(0, 1, 2, 8, 8), (1, 3, 1, 5, 7)]
INCEPTION_HIDDEN = [(10, 10, 1, 12, 12), (11, 16, 3, 4, 4), (12, 2, 1, 1, 1)]


@graded
def inception_block(cls, points: float = 5, hidden: bool = False) -> float:
    """Check ``InceptionBlock(in_channels)``: (N, C, H, W) -> (N, 88, H, W).

    Parts: shape (2/5), parameters (2/5: exactly ``72 * in_channels + 18,384``) and gradients
    (1/5: every parameter and the input get a gradient from ``sum(out * g)``).
    """
    q = Question("InceptionBlock", {"shape": 2, "parameters": 2, "gradients": 1}, points, hidden)
    for label, (seed, c, N, H, W) in q.cases(INCEPTION_VISIBLE, INCEPTION_HIDDEN):
        gen = torch.Generator().manual_seed(7000 + seed)
        x = torch.randn(N, c, H, W, generator=gen)
        g = torch.randn(N, 88, H, W, generator=gen)
        label = f"{label} (InceptionBlock({c}), {shapes(x=x)})"
        ok, model = q.call(_build, cls, c, seed, label=label, key=cls)
        if not ok:
            continue
        if not isinstance(model, nn.Module):
            q.fail(q.parts, f"{label}: expected an nn.Module, got {check.describe(model)}")
            continue
        count = sum(p.numel() for p in model.parameters())
        q.record("parameters", count == inception_parameters(c),
                 f"{label}: expected {inception_parameters(c):,} parameters, found {count:,}; "
                 f"compare each branch's channels and kernel sizes with the table")
        ok, out = q.call(model, x.clone(), label=label, parts=["shape"], key=cls, copy_args=False)
        if ok:
            q.record("shape", shape_of(out) == (N, 88, H, W),
                     f"{label}: expected an output of shape {(N, 88, H, W)}, got {check.describe(out)}")
        if ok and shape_of(out) == (N, 88, H, W):
            ok, value = q.call(_grads, model, x, g, label=label, parts=["gradients"], key=cls,
                               copy_args=False)
            if ok:
                gx, grads = value
                missing = [name for name, gr in grads if gr is None] + (["x"] if gx is None else [])
                q.record("gradients", not missing, f"{label}: no gradient reached {', '.join(missing)}")
        else:
            q.fail(["gradients"], f"{label}: not checked, the output shape is wrong")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q2: the residual block
# --------------------------------------------------------------------------------------------
# (seed, channels, N, H, W)
RESIDUAL_VISIBLE = [(0, 4, 2, 6, 6), (1, 1, 1, 5, 3)]
RESIDUAL_HIDDEN = [(10, 8, 1, 4, 4), (11, 3, 2, 7, 5), (12, 16, 1, 2, 2)]


def _zeroed(model):
    model = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


def _conv(module, name: str, c: int) -> str | None:
    conv = getattr(module, name, None)
    if not isinstance(conv, nn.Conv2d):
        return f"self.{name} should be an nn.Conv2d, got {check.describe(conv)}"
    spec = (conv.in_channels, conv.out_channels, tuple(conv.kernel_size), tuple(conv.padding))
    if spec != (c, c, (3, 3), (1, 1)) or conv.bias is None or tuple(conv.stride) != (1, 1):
        return (f"self.{name} should be nn.Conv2d({c}, {c}, kernel_size=3, padding=1) with a bias, "
                f"got {conv}")
    return None


@graded
def residual_block(cls, points: float = 5, hidden: bool = False) -> float:
    """Check ``ResidualBlock(channels)``: ``y = relu(x + conv2(relu(conv1(x))))``, shape kept.

    ``conv1`` and ``conv2`` are ``nn.Conv2d(channels, channels, 3, padding=1)``. Parts: shape
    (1/5), parameters (1/5: ``2 * (9 * channels**2 + channels)``), skip (1/5: with all weights
    zero the block returns ``relu(x)``) and values (2/5: equal to the formula computed with the
    block's own conv weights).
    """
    q = Question("ResidualBlock", {"shape": 1, "parameters": 1, "skip": 1, "values": 2},
                 points, hidden)
    for label, (seed, c, N, H, W) in q.cases(RESIDUAL_VISIBLE, RESIDUAL_HIDDEN):
        gen = torch.Generator().manual_seed(8000 + seed)
        x = torch.randn(N, c, H, W, generator=gen)
        label = f"{label} (ResidualBlock({c}), {shapes(x=x)})"
        ok, model = q.call(_build, cls, c, seed, label=label, key=cls)
        if not ok:
            continue
        if not isinstance(model, nn.Module):
            q.fail(q.parts, f"{label}: expected an nn.Module, got {check.describe(model)}")
            continue
        count = sum(p.numel() for p in model.parameters())
        want = 2 * (9 * c * c + c)
        q.record("parameters", count == want, f"{label}: expected {want:,} parameters, found {count:,}")
        ok, out = q.call(model, x.clone(), label=label, parts=["shape", "values"], key=cls,
                         copy_args=False)
        if ok:
            q.record("shape", shape_of(out) == (N, c, H, W),
                     f"{label}: expected an output of shape {(N, c, H, W)}, got {check.describe(out)}")
            problem = _conv(model, "conv1", c) or _conv(model, "conv2", c)
            if problem:
                q.record("values", False, f"{label}: {problem}")
            else:
                with torch.no_grad():
                    c1, c2 = model.conv1, model.conv2
                    h = torch.relu(F.conv2d(x, c1.weight, c1.bias, padding=1))
                    expected = torch.relu(x + F.conv2d(h, c2.weight, c2.bias, padding=1))
                q.compare("values", out, expected, label, 1e-5, 1e-4, "output")
        ok, zero_model = q.call(_zeroed, model, label=label, parts=["skip"], key=cls, copy_args=False)
        if ok:
            ok, out = q.call(zero_model, x.clone(), label=label, parts=["skip"], key=cls,
                             copy_args=False)
        if ok:
            q.compare("skip", out, torch.relu(x), label, 1e-6, 1e-5,
                      "with all weights set to 0 the block should return relu(x) (the skip "
                      "connection, then ReLU)")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q3: a small training run
# --------------------------------------------------------------------------------------------
# (seed, images, num_steps, lr)
STEPS_VISIBLE = [(0, 48, 15, 0.05)]
STEPS_HIDDEN = [(10, 30, 20, 0.02), (11, 64, 10, 0.05)]


def _bands(seed: int, n: int, classes: int = 3, size: int = 12):
    """Images (n, 1, size, size) where class k lights a band of rows: learnable in a few steps."""
    g = torch.Generator().manual_seed(9000 + seed)
    y = torch.arange(n) % classes
    y = y[torch.randperm(n, generator=g)]
    X = torch.randn(n, 1, size, size, generator=g) * 0.3
    for k in range(classes):
        top = k * size // classes
        X[y == k, :, top:top + size // classes, :] += 1.0
    return X, y


def _small_cnn(seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def _reference_steps(model, X, y, num_steps: int, lr: float) -> list[float]:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(num_steps):
        loss = F.cross_entropy(model(X), y)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses


def _loss(model, X, y) -> float:
    with torch.no_grad():
        return F.cross_entropy(model(X), y).item()


@graded
def train_steps(fn, points: float = 4, hidden: bool = False) -> float:
    """Check ``train_steps(model, X, y, num_steps, lr) -> losses`` on a small CNN and batch.

    Each step: logits = model(X), cross-entropy with y, zero grads, backward, one step of
    ``torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)``; ``losses`` holds each step's
    loss as a number, before its update. X: (N, 1, 12, 12), y: (N,) in {0, 1, 2}. Parts: returns
    (1/4: ``num_steps`` numbers), falls (2/4: the model's loss on the batch ends below half its
    start) and trajectory (1/4: the losses equal the reference loop's).
    """
    q = Question("train_steps", {"returns": 1, "falls": 2, "trajectory": 1}, points, hidden)
    for label, (seed, n, num_steps, lr) in q.cases(STEPS_VISIBLE, STEPS_HIDDEN):
        X, y = _bands(seed, n)
        model = _small_cnn(seed)
        start = _loss(model, X, y)
        expected = _reference_steps(copy.deepcopy(model), X, y, num_steps, lr)
        label = f"{label} ({shapes(X=X, num_steps=num_steps, lr=lr)})"
        ok, losses = q.call(fn, model, X.clone(), y.clone(), num_steps, lr, label=label,
                            copy_args=False)
        if not ok:
            continue
        values, problem = loss_list(losses, num_steps)
        if q.record("returns", problem is None, f"{label}: {problem}"):
            q.compare("trajectory", values, expected, label, 1e-5, 1e-3, "losses")
        else:
            q.fail(["trajectory"], f"{label}: {problem}")
        ok, end = q.call(_loss, model, X, y, label=label, parts=["falls"], key=fn, copy_args=False)
        if ok:
            q.record("falls", end < 0.5 * start,
                     f"{label}: the loss went from {start:.4g} to {end:.4g}; it should fall below "
                     f"half (train the model you were given, in place)")
    return q.result()
