"""Graded checks for assignment A4, CNNs (14 points).

===============  ===============================================  ======  =========================
check            learner's object                                 points  parts
===============  ===============================================  ======  =========================
inception_block  ``InceptionBlock(in_channels)``: (N, C, H, W)    5       shape 1, parameters 1,
                 -> (N, 88, H, W), four branches concatenated             values 2, gradients 1
residual_block   ``ResidualBlock(channels)``: ``relu(x +          5       shape 1, parameters 1,
                 conv2(relu(conv1(x))))``, 3x3 convs, padding 1           skip 1, values 2
train_steps      ``train_steps(model, X, y, num_steps, lr) ->     4       returns 1, falls 1,
                 losses``: full-batch SGD with momentum 0.9 on            trajectory 2
                 the cross-entropy
===============  ===============================================  ======  =========================

The Inception block (GoogLeNet's, as in lesson 12) has four branches, each keeping H and W:
1x1 conv to 16 channels; 1x1 to 16 then 5x5 (padding 2) to 24; 1x1 to 16, 3x3 (padding 1) to
24, 3x3 (padding 1) to 24; 3x3 average pool (stride 1, padding 1) then 1x1 to 24. Concatenated
in that order: 16 + 24 + 24 + 24 = 88 channels, and ``72 * in_channels + 18,384`` parameters (all
convs with bias). No activation inside the block. The values part loads weights of the check's
choosing into the learner's convolutions (found by their shapes) and compares the output with
the spec computed by the check, so a missing branch, max instead of average pooling, another
branch order or an extra ReLU cost those points.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from course import check
from course.grading.core import Question, graded, shape_of, shapes
from course.grading.probes import initial_state, make_model

__all__ = ["inception_block", "residual_block", "train_steps", "inception_parameters"]


def inception_parameters(in_channels: int) -> int:
    """Parameters of the specified Inception block: 72 * in_channels + 18,384."""
    conv = lambda c_in, c_out, k: c_in * c_out * k * k + c_out  # noqa: E731 - weights + biases
    c = in_channels
    return (conv(c, 16, 1)
            + conv(c, 16, 1) + conv(16, 24, 5)
            + conv(c, 16, 1) + conv(16, 24, 3) + conv(24, 24, 3)
            + conv(c, 24, 1))


def _parameters(q: Question, cls, c: int, seed: int, label: str, want: int, hint: str = "") -> dict | None:
    """Build ``cls(c)`` through the probe; record the ``parameters`` part (exactly ``want``).
    Returns the probe's ``{"params", "layers"}``, or None when the block could not be built."""
    ok, info = q.run("module_parameters", cls, (c,), seed, label=label)
    if not ok:
        return None
    count = sum(int(t.numel()) for t in info["params"].values())
    q.record("parameters", count == want, f"{label}: expected {want:,} parameters, found {count:,}{hint}")
    return info


def _random_state(params: dict, g: torch.Generator) -> dict:
    """Weights of the check's choosing for every parameter (scaled by fan-in)."""
    out = {}
    for name, t in params.items():
        fan_in = max(1, int(t[0].numel())) if t.dim() > 1 else 4
        out[name] = torch.randn(t.shape, generator=g) / fan_in ** 0.5
    return out


# --------------------------------------------------------------------------------------------
# Q1: the Inception block
# --------------------------------------------------------------------------------------------
# (seed, in_channels, N, H, W)
INCEPTION_VISIBLE = [(0, 1, 2, 8, 8), (1, 3, 1, 5, 7)]


def _inception_convs(params: dict, c: int) -> dict | None:
    """The learner's convolutions by role, found from weight shapes: ``{"reduce": [3 names],
    "b5": name, "b3a": name, "b3b": name, "pool": name}`` (prefixes of ``.weight``/``.bias``)."""
    def named(shape):
        return [n[:-len(".weight")] for n, t in params.items()
                if n.endswith(".weight") and tuple(t.shape) == shape and f"{n[:-len('.weight')]}.bias" in params]

    roles = {"reduce": named((16, c, 1, 1)), "b5": named((24, 16, 5, 5)), "b3a": named((24, 16, 3, 3)),
             "b3b": named((24, 24, 3, 3)), "pool": named((24, c, 1, 1))}
    if len(roles["reduce"]) != 3 or any(len(roles[k]) != 1 for k in ("b5", "b3a", "b3b", "pool")):
        return None
    return {k: (v if k == "reduce" else v[0]) for k, v in roles.items()}


def _inception_candidates(x, state, convs):
    """The spec's output for each way of giving the three 1x1 convs to their branches."""
    def conv(name, t, padding=0):
        return F.conv2d(t, state[f"{name}.weight"], state[f"{name}.bias"], padding=padding)

    pool = conv(convs["pool"], F.avg_pool2d(x, 3, stride=1, padding=1))
    for one, r5, r3 in itertools.permutations(convs["reduce"]):
        yield torch.cat([conv(one, x), conv(convs["b5"], conv(r5, x), 2),
                         conv(convs["b3b"], conv(convs["b3a"], conv(r3, x), 1), 1), pool], dim=1)


@graded
def inception_block(cls, points: float = 5, hidden: bool = False) -> float:
    """Check ``InceptionBlock(in_channels)``: (N, C, H, W) -> (N, 88, H, W).

    Parts: shape (1/5), parameters (1/5: exactly ``72 * in_channels + 18,384``), values (2/5:
    with the check's weights loaded, the output equals the four branches of the spec,
    concatenated in order on the channel axis, with no activation) and gradients (1/5: every
    parameter and the input get a gradient from ``sum(out * g)``).
    """
    q = Question("InceptionBlock", {"shape": 1, "parameters": 1, "values": 2, "gradients": 1}, points, hidden)
    for label, (seed, c, N, H, W) in q.cases(INCEPTION_VISIBLE, "a4.INCEPTION"):
        gen = torch.Generator().manual_seed(7000 + seed)
        x = torch.randn(N, c, H, W, generator=gen)
        g = torch.randn(N, 88, H, W, generator=gen)
        label = f"{label} (InceptionBlock({c}), {shapes(x=x)})"
        info = _parameters(q, cls, c, seed, label, inception_parameters(c),
                           "; compare each branch's channels and kernel sizes with the table")
        if info is None:
            continue
        params = info["params"]
        state = _random_state(params, gen)
        ok, run = q.run("module_run", cls, (c,), seed, x, g, state, label=label,
                        parts=["shape", "values", "gradients"])
        if not ok:
            continue
        out = run["out"]
        if not q.record("shape", shape_of(out) == (N, 88, H, W),
                        f"{label}: expected an output of shape {(N, 88, H, W)}, got {check.describe(out)}"):
            q.fail(["values", "gradients"], f"{label}: not checked, the output shape is wrong")
            continue
        convs = _inception_convs(params, c)
        if convs is None:
            q.record("values", False, f"{label}: expected the convolutions of the table (three 1x1 to 16 "
                                      f"channels, 5x5 16->24, 3x3 16->24, 3x3 24->24, 1x1 {c}->24, all "
                                      f"with bias); found weights of shapes "
                                      f"{sorted({tuple(t.shape) for n, t in params.items() if n.endswith('weight')})}")
        else:
            with torch.no_grad():
                whys = [check.compare(out, want, 1e-4, 1e-4) for want in _inception_candidates(x, state, convs)]
            q.record("values", None in whys,
                     f"{label}: with the check's weights the output differs from the spec: {whys[0]} "
                     f"(four branches in the order of the table, average pooling, no activation)")
        if run.get("backward_error"):
            q.fail(["backward" if "backward" in q.parts else "gradients"],
                   f"{label}: the backward pass {run['backward_error']}")
            continue
        grads = {"x": run.get("x_grad"), **run.get("grads", {})}
        missing = [name for name, gr in grads.items() if gr is None]
        q.record("gradients", not missing, f"{label}: no gradient reached {', '.join(missing)}")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q2: the residual block
# --------------------------------------------------------------------------------------------
# (seed, channels, N, H, W)
RESIDUAL_VISIBLE = [(0, 4, 2, 6, 6), (1, 1, 1, 5, 3)]


def _conv(layers: dict, name: str, c: int) -> str | None:
    conv = layers.get(name, {})
    if conv.get("type") != "Conv2d":
        return f"self.{name} should be an nn.Conv2d, got {conv.get('type', 'nothing')}"
    spec = (conv.get("in_channels"), conv.get("out_channels"), conv.get("kernel_size"), conv.get("padding"))
    if spec != (c, c, [3, 3], [1, 1]) or not conv.get("bias") or conv.get("stride") != [1, 1]:
        return (f"self.{name} should be nn.Conv2d({c}, {c}, kernel_size=3, padding=1) with a bias, "
                f"got in/out channels {spec[:2]}, kernel_size {spec[2]}, padding {spec[3]}, "
                f"stride {conv.get('stride')}, bias={conv.get('bias')}")
    return None


@graded
def residual_block(cls, points: float = 5, hidden: bool = False) -> float:
    """Check ``ResidualBlock(channels)``: ``y = relu(x + conv2(relu(conv1(x))))``, shape kept.

    ``conv1`` and ``conv2`` are ``nn.Conv2d(channels, channels, 3, padding=1)``. Parts: shape
    (1/5), parameters (1/5: ``2 * (9 * channels**2 + channels)``), skip (1/5: with all weights
    zero the block returns ``relu(x)``) and values (2/5: equal to the formula computed with
    weights the check loads into ``conv1`` and ``conv2``).
    """
    q = Question("ResidualBlock", {"shape": 1, "parameters": 1, "skip": 1, "values": 2},
                 points, hidden)
    for label, (seed, c, N, H, W) in q.cases(RESIDUAL_VISIBLE, "a4.RESIDUAL"):
        gen = torch.Generator().manual_seed(8000 + seed)
        x = torch.randn(N, c, H, W, generator=gen)
        label = f"{label} (ResidualBlock({c}), {shapes(x=x)})"
        info = _parameters(q, cls, c, seed, label, 2 * (9 * c * c + c))
        if info is None:
            continue
        params = info["params"]
        state = _random_state(params, gen)
        ok, run = q.run("module_run", cls, (c,), seed, x, None, state, label=label, parts=["shape", "values"])
        if ok:
            out = run["out"]
            q.record("shape", shape_of(out) == (N, c, H, W),
                     f"{label}: expected an output of shape {(N, c, H, W)}, got {check.describe(out)}")
            problem = _conv(info["layers"], "conv1", c) or _conv(info["layers"], "conv2", c)
            if problem:
                q.record("values", False, f"{label}: {problem}")
            else:
                h = torch.relu(F.conv2d(x, state["conv1.weight"], state["conv1.bias"], padding=1))
                expected = torch.relu(x + F.conv2d(h, state["conv2.weight"], state["conv2.bias"], padding=1))
                q.compare("values", out, expected, label, 1e-5, 1e-4, "output")
        zeros = {name: torch.zeros_like(t) for name, t in params.items()}
        ok, run = q.run("module_run", cls, (c,), seed, x, None, zeros, label=label, parts=["skip"])
        if ok:
            q.compare("skip", run["out"], torch.relu(x), label, 1e-6, 1e-5,
                      "with all weights set to 0 the block should return relu(x) (the skip "
                      "connection, then ReLU)")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q3: a small training run
# --------------------------------------------------------------------------------------------
# (seed, images, num_steps, lr)
STEPS_VISIBLE = [(0, 48, 15, 0.05)]


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




def _loss(state, X, y) -> float:
    with torch.no_grad():
        return F.cross_entropy(make_model(("small_cnn",), state)(X), y).item()


@graded
def train_steps(fn, points: float = 4, hidden: bool = False) -> float:
    """Check ``train_steps(model, X, y, num_steps, lr) -> losses`` on a small CNN and batch.

    Each step: logits = model(X), cross-entropy with y, zero grads, backward, one step of
    ``torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)``; ``losses`` holds each step's
    loss as a number, before its update. X: (N, 1, 12, 12), y: (N,) in {0, 1, 2}. Parts: returns
    (1/4: ``num_steps`` numbers), falls (1/4: the model's loss on the batch ends below half its
    start) and trajectory (2/4: the first loss is the starting loss and the last is lower; the
    hidden run compares every step with the reference loop's, which only the specified loop
    matches).
    """
    q = Question("train_steps", {"returns": 1, "falls": 1, "trajectory": 2}, points, hidden)
    reference = q.hidden_value("a4.reference_steps")
    for label, (seed, n, num_steps, lr) in q.cases(STEPS_VISIBLE, "a4.STEPS"):
        X, y = _bands(seed, n)
        state = initial_state(("small_cnn",), seed)
        start = _loss(state, X, y)
        label = f"{label} ({shapes(X=X, num_steps=num_steps, lr=lr)})"
        ok, run = q.run("train_function", fn, ("small_cnn",), state, X, y, num_steps, lr, label=label)
        if not ok:
            continue
        expected = reference(make_model(("small_cnn",), state), X, y, num_steps, lr) if reference else None
        q.trajectory(run["value"], num_steps, start, expected, label)
        end = _loss(run["state"], X, y)
        q.record("falls", end < 0.5 * start,
                 f"{label}: the loss went from {start:.4g} to {end:.4g}; it should fall below "
                 f"half (train the model you were given, in place)")
    return q.result()
