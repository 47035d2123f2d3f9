"""Graded checks for assignment A4, CNNs (17 points checked here; 6 more for written answers,
graded by hand in the formgrader).

================  =================================================  ======  =========================
check             learner's object                                   points  parts
================  =================================================  ======  =========================
inception_block   ``InceptionBlock(in_channels)``: (N, C, H, W) ->   5       shape 1, parameters 1,
                  (N, 88, H, W), four branches concatenated                  values 2, gradients 1
bottleneck_block  ``Bottleneck(in_channels, mid_channels,            6       shape 1, parameters 1,
                  out_channels, stride)``: 1x1 -> 3x3 (stride) ->            shortcut 2, values 2
                  1x1 with BatchNorm, a projection shortcut when
                  the shape changes
cifar_accuracy    ``CifarCNN()`` with the weights file handed in     6       by accuracy band: 2 for
                  with the notebook, on 2,000 held-out CIFAR-10              >= 45%, 2 more for
                  test images (200 per class)                                >= 55%, 2 more for >= 65%
================  =================================================  ======  =========================

**Q1, the Inception block** (GoogLeNet's, the bare version): four branches, each keeping H and
W: 1x1 conv to 16 channels; 1x1 to 16 then 5x5 (padding 2) to 24; 1x1 to 16, 3x3 (padding 1)
to 24, 3x3 (padding 1) to 24; 3x3 average pool (stride 1, padding 1) then 1x1 to 24.
Concatenated in that order: 16 + 24 + 24 + 24 = 88 channels, and ``72 * in_channels + 18,384``
parameters (all convs with bias). Unlike lesson 13's block, which follows every convolution
with BatchNorm and a ReLU, this one has no normalisation and no activation inside (the network
adds a ReLU after it). The values part loads weights of the check's choosing into the
learner's convolutions (found by their shapes) and compares the output with the spec computed
by the check, so a missing branch, max instead of average pooling, another branch order, an
extra ReLU or a BatchNorm cost those points.

**Q2, the bottleneck block** (ResNet-50's, with the stride on the 3x3 convolution):
``relu(main(x) + shortcut(x))`` where ``main`` is ``conv1`` 1x1 (in -> mid), ``bn1``, ReLU,
``conv2`` 3x3 (mid -> mid, ``stride``, padding 1), ``bn2``, ReLU, ``conv3`` 1x1 (mid -> out),
``bn3``; convolutions without bias (BatchNorm adds one), BatchNorm with its defaults. The
shortcut is the identity when the shape stays (stride 1 and in == out); otherwise a projection,
``self.shortcut = nn.Sequential(nn.Conv2d(in, out, 1, stride=stride, bias=False),
nn.BatchNorm2d(out))``. Output (N, out, ceil(H / stride), ceil(W / stride)). Parts: shape,
parameters (exactly ``bottleneck_parameters``), shortcut (with ``bn3``'s weight and bias set to
0 the main path is 0 and the block must return ``relu(shortcut(x))``: ``relu(x)`` or the
projection, which must exist exactly when the shape changes) and values (with the check's
weights and running statistics loaded, the output equals the formula in eval mode and, with
batch statistics, in training mode).

**Q3, a CIFAR-10 CNN graded by its accuracy.** The learner trains ``CifarCNN()`` (any
architecture; inputs (N, 3, 32, 32) normalised with ``course.data.CIFAR10_MEAN``/``STD``,
output logits (N, 10)) and hands in ``model.state_dict()`` saved with ``torch.save`` next to
the notebook. The check never runs training. Through the probes it loads the file into the
learner's own class (``torch.load(weights_only=True)``, at most ``MAX_WEIGHTS_MB``), sends its
own held-out images as uint8 and receives logits; it keeps the labels and computes the
accuracy itself. Held-out images: 200 per class of the CIFAR-10 test split (2,000), picked
with a seed; the hidden run uses another seed (``hidden_tests/a4.py``) and moves every pixel
by at most one grey level, which changes a CNN's accuracy by a fraction of a point (the
solution's: 77.4% -> 77.1% on the same 2,000 images) but defeats a lookup of exact images. Under the autograder the kernel cannot read the test split's labels: the sandbox's view
of the data cache leaves out the files ``assignment.json`` lists under ``hidden_data``.
A missing, corrupt or oversized weights file, or one that does not fit ``CifarCNN``, scores 0
for this question with a message saying which; the other questions are graded as usual.
"""
from __future__ import annotations

import functools
import itertools
import math

import torch
import torch.nn.functional as F

from course import check
from course.grading.core import Question, graded, plain, shape_of, shapes

__all__ = ["inception_block", "bottleneck_block", "cifar_accuracy", "inception_parameters",
           "bottleneck_parameters", "BANDS"]


def inception_parameters(in_channels: int) -> int:
    """Parameters of the specified Inception block: 72 * in_channels + 18,384."""
    conv = lambda c_in, c_out, k: c_in * c_out * k * k + c_out  # noqa: E731 - weights + biases
    c = in_channels
    return (conv(c, 16, 1)
            + conv(c, 16, 1) + conv(16, 24, 5)
            + conv(c, 16, 1) + conv(16, 24, 3) + conv(24, 24, 3)
            + conv(c, 24, 1))


def _parameters(q: Question, cls, args: tuple, seed: int, label: str, want: int, hint: str = "") -> dict | None:
    """Build ``cls(*args)`` through the probe; record the ``parameters`` part (exactly ``want``).
    Returns the probe's ``{"params", "buffers", "layers"}``, or None when it could not be built."""
    ok, info = q.run("module_parameters", cls, args, seed, label=label)
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
    concatenated in order on the channel axis, with no activation and no normalisation) and
    gradients (1/5: every parameter and the input get a gradient from ``sum(out * g)``).
    """
    q = Question("InceptionBlock", {"shape": 1, "parameters": 1, "values": 2, "gradients": 1}, points, hidden)
    for label, (seed, c, N, H, W) in q.cases(INCEPTION_VISIBLE, "a4.INCEPTION"):
        gen = torch.Generator().manual_seed(7000 + seed)
        x = torch.randn(N, c, H, W, generator=gen)
        g = torch.randn(N, 88, H, W, generator=gen)
        label = f"{label} (InceptionBlock({c}), {shapes(x=x)})"
        info = _parameters(q, cls, (c,), seed, label, inception_parameters(c),
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
            q.fail(["gradients"], f"{label}: the backward pass {run['backward_error']}")
            continue
        grads = {"x": run.get("x_grad"), **run.get("grads", {})}
        missing = [name for name, gr in grads.items() if gr is None]
        q.record("gradients", not missing, f"{label}: no gradient reached {', '.join(missing)}")
    return q.result()


# --------------------------------------------------------------------------------------------
# Q2: the bottleneck block
# --------------------------------------------------------------------------------------------
# (seed, in_channels, mid_channels, out_channels, stride, N, H, W): the first needs a projection
# (stride 2 and more channels), the second keeps its shape (identity shortcut)
BOTTLENECK_VISIBLE = [(0, 8, 4, 16, 2, 2, 8, 8), (1, 16, 4, 16, 1, 2, 5, 7)]
MAIN = ("conv1", "bn1", "conv2", "bn2", "conv3", "bn3")
BN_EPS = 1e-5


def projects(c_in: int, c_out: int, stride: int) -> bool:
    """Whether the block changes the shape, so that its shortcut must be a projection."""
    return stride != 1 or c_in != c_out


def bottleneck_parameters(c_in: int, mid: int, c_out: int, stride: int = 1) -> int:
    """Parameters of the specified bottleneck block: the three convolutions (no bias), two
    numbers per BatchNorm channel, and the projection (1x1 conv + BatchNorm) when the shape changes."""
    count = c_in * mid + 9 * mid * mid + mid * c_out + 2 * (mid + mid + c_out)
    if projects(c_in, c_out, stride):
        count += c_in * c_out + 2 * c_out
    return count


def _bottleneck_shapes(c_in: int, mid: int, c_out: int) -> dict:
    """Tensor shapes the spec gives the main path's layers (name -> shape)."""
    shapes_ = {"conv1.weight": (mid, c_in, 1, 1), "conv2.weight": (mid, mid, 3, 3), "conv3.weight": (c_out, mid, 1, 1)}
    for bn, n in (("bn1", mid), ("bn2", mid), ("bn3", c_out)):
        for field in ("weight", "bias", "running_mean", "running_var"):
            shapes_[f"{bn}.{field}"] = (n,)
    return shapes_


def _projection(info: dict, c_in: int, c_out: int) -> tuple[str | None, str | None, str | None]:
    """``(conv name, bn name, problem)`` of the learner's projection shortcut (``self.shortcut``)."""
    layers = info["layers"]
    convs = [n for n, v in layers.items() if n.startswith("shortcut") and v.get("type") == "Conv2d"]
    bns = [n for n, v in layers.items() if n.startswith("shortcut") and v.get("type") == "BatchNorm2d"]
    if len(convs) != 1 or len(bns) != 1:
        return None, None, (f"expected a projection shortcut, self.shortcut = nn.Sequential(nn.Conv2d({c_in}, "
                            f"{c_out}, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d({c_out})); found "
                            f"{len(convs)} Conv2d and {len(bns)} BatchNorm2d under 'shortcut'")
    conv, bn = convs[0], bns[0]
    want = {f"{conv}.weight": (c_out, c_in, 1, 1), **{f"{bn}.{f}": (c_out,) for f in
                                                      ("weight", "bias", "running_mean", "running_var")}}
    tensors = {**info["params"], **info["buffers"]}
    wrong = [f"{n} {tuple(tensors[n].shape) if n in tensors else 'missing'} (expected {s})"
             for n, s in want.items() if n not in tensors or tuple(tensors[n].shape) != s]
    if f"{conv}.bias" in tensors:
        wrong.append(f"{conv}.bias (the projection's conv has no bias: BatchNorm adds one)")
    return conv, bn, ("the projection shortcut does not match the spec: " + "; ".join(wrong)) if wrong else None


def _bn_state(n: int, g: torch.Generator) -> dict:
    return {"weight": 1 + 0.2 * torch.randn(n, generator=g), "bias": 0.2 * torch.randn(n, generator=g),
            "running_mean": 0.3 * torch.randn(n, generator=g), "running_var": 0.5 + torch.rand(n, generator=g)}


def _bottleneck_state(c_in, mid, c_out, proj: tuple | None, g: torch.Generator) -> dict:
    """Weights and running statistics of the check's choosing, by the learner's names."""
    state = {}
    for name, shape in (("conv1", (mid, c_in, 1, 1)), ("conv2", (mid, mid, 3, 3)), ("conv3", (c_out, mid, 1, 1))):
        state[f"{name}.weight"] = torch.randn(shape, generator=g) / math.sqrt(shape[1] * shape[2] * shape[3])
    for bn, n in (("bn1", mid), ("bn2", mid), ("bn3", c_out)):
        state.update({f"{bn}.{k}": v for k, v in _bn_state(n, g).items()})
    if proj is not None:
        conv, bn = proj
        state[f"{conv}.weight"] = torch.randn(c_out, c_in, 1, 1, generator=g) / math.sqrt(c_in)
        state.update({f"{bn}.{k}": v for k, v in _bn_state(c_out, g).items()})
    return state


def _bottleneck_spec(x, state, stride: int, proj: tuple | None, train: bool, main: bool = True):
    """The specified block's output, computed by the check (``main=False``: the shortcut alone)."""
    def bn(t, name):
        return F.batch_norm(t, state[f"{name}.running_mean"].clone(), state[f"{name}.running_var"].clone(),
                            state[f"{name}.weight"], state[f"{name}.bias"], training=train, eps=BN_EPS)

    with torch.no_grad():
        if proj is None:
            short = x
        else:
            short = bn(F.conv2d(x, state[f"{proj[0]}.weight"], stride=stride), proj[1])
        if not main:
            return torch.relu(short)
        h = torch.relu(bn(F.conv2d(x, state["conv1.weight"]), "bn1"))
        h = torch.relu(bn(F.conv2d(h, state["conv2.weight"], stride=stride, padding=1), "bn2"))
        h = bn(F.conv2d(h, state["conv3.weight"]), "bn3")
        return torch.relu(h + short)


@graded
def bottleneck_block(cls, points: float = 6, hidden: bool = False) -> float:
    """Check ``Bottleneck(in_channels, mid_channels, out_channels, stride)`` (see the module docstring).

    Parts: shape (1/6: (N, out, ceil(H / stride), ceil(W / stride))), parameters (1/6: exactly
    ``bottleneck_parameters``), shortcut (2/6: with ``bn3``'s weight and bias set to 0 the block
    returns ``relu(x)`` when the shape stays, and ``relu(bn(conv1x1_stride(x)))`` through a
    projection when it changes) and values (2/6: the spec's output with the check's weights and
    running statistics, in eval mode and, with batch statistics, in training mode).
    """
    q = Question("Bottleneck", {"shape": 1, "parameters": 1, "shortcut": 2, "values": 2}, points, hidden)
    for label, (seed, c_in, mid, c_out, stride, N, H, W) in q.cases(BOTTLENECK_VISIBLE, "a4.BOTTLENECK"):
        gen = torch.Generator().manual_seed(9000 + seed)
        x = torch.randn(N, c_in, H, W, generator=gen)
        args = (c_in, mid, c_out, stride)
        out_shape = (N, c_out, -(-H // stride), -(-W // stride))
        need = projects(c_in, c_out, stride)
        label = (f"{label} (Bottleneck({c_in}, {mid}, {c_out}, stride={stride}), {shapes(x=x)}, "
                 f"{'projection' if need else 'identity'} shortcut)")
        hint = (f"; the projection shortcut adds {c_in * c_out + 2 * c_out:,} (1x1 conv + BatchNorm)" if need else
                "; with the same shape in and out the shortcut is the identity, without parameters")
        info = _parameters(q, cls, args, seed, label, bottleneck_parameters(*args), hint)
        if info is None:
            continue
        tensors = {**info["params"], **info["buffers"]}
        wrong = [f"{n} {tuple(tensors[n].shape) if n in tensors else 'missing'} (expected {s})"
                 for n, s in _bottleneck_shapes(c_in, mid, c_out).items()
                 if n not in tensors or tuple(tensors[n].shape) != s]
        wrong += [f"{c}.bias (no bias: BatchNorm adds one)" for c in ("conv1", "conv2", "conv3") if f"{c}.bias" in tensors]
        if wrong:
            q.fail(["shortcut", "values"], f"{label}: name the layers conv1, bn1, conv2, bn2, conv3, bn3 as in "
                                           f"the table; " + "; ".join(wrong[:4]))
        proj, problem = None, None
        if need:
            conv, bn, problem = _projection(info, c_in, c_out)
            proj = (conv, bn) if problem is None else None
        else:
            extra = [n for n in info["params"] if n.startswith("shortcut")]
            if extra:
                problem = (f"the shape stays the same, so the shortcut is the identity; found parameters "
                           f"{', '.join(extra)}")
        if problem:
            q.fail(["shortcut", "values"], f"{label}: {problem}")
        names = set(info["params"]) | {n for n in info["buffers"] if not n.endswith("num_batches_tracked")}
        state = _bottleneck_state(c_in, mid, c_out, proj, gen)
        usable = not wrong and not problem
        # shape, and the values in eval mode (every name of the state must exist: checked above)
        ok, run = q.run("module_run", cls, args, seed, x, None, state if usable else None, False,
                        label=label, parts=["shape", "values"])
        if not ok:
            continue
        out = run["out"]
        if not q.record("shape", shape_of(out) == out_shape,
                        f"{label}: expected an output of shape {out_shape}, got {check.describe(out)}"):
            q.fail(["shortcut", "values"], f"{label}: not checked, the output shape is wrong")
            continue
        if not usable:
            continue
        unknown = sorted(names - set(state))
        if unknown:
            q.fail(["shortcut", "values"], f"{label}: the block has layers the spec does not: {', '.join(unknown[:4])}")
            continue
        q.compare("values", out, _bottleneck_spec(x, state, stride, proj, train=False), label, 1e-4, 1e-4,
                  "eval mode (running statistics)")
        ok, run = q.run("module_run", cls, args, seed, x, None, state, True, label=label, parts=["values"])
        if ok:
            q.compare("values", run["out"], _bottleneck_spec(x, state, stride, proj, train=True), label,
                      1e-4, 1e-4, "training mode (batch statistics)")
        zeroed = {**state, "bn3.weight": torch.zeros(c_out), "bn3.bias": torch.zeros(c_out)}
        ok, run = q.run("module_run", cls, args, seed, x, None, zeroed, False, label=label, parts=["shortcut"])
        if ok:
            q.compare("shortcut", run["out"], _bottleneck_spec(x, zeroed, stride, proj, False, main=False), label,
                      1e-4, 1e-4, "with bn3's weight and bias set to 0 the block should return relu(shortcut(x)), "
                                  + ("relu(bn(conv1x1(x))) through the projection" if need else "relu(x)"))
    return q.result()


# --------------------------------------------------------------------------------------------
# Q3: a CIFAR-10 CNN, graded by its accuracy on held-out images
# --------------------------------------------------------------------------------------------
#: accuracy at least ``bar``: the part ``name`` earns its share (parts add up: 0, 2, 4, 6 of 6)
BANDS = ((">= 45%", 0.45), (">= 55%", 0.55), (">= 65%", 0.65))
HELD_OUT_VISIBLE = {"seed": 0, "per_class": 200, "jitter": 0}
MAX_WEIGHTS_MB = 20
EVAL_TIMEOUT = 60.0      # seconds the learner's model has for 2,000 images (a small CNN: ~1-3 s)


@functools.lru_cache(maxsize=2)
def _test_split(where: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """The CIFAR-10 test split, read once per data folder (``where``: the data variables)."""
    from course import data

    return data.load_tensors("cifar10", train=False)


def held_out(seed: int, per_class: int, jitter: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images of each class of the CIFAR-10 test split (fewer where the split has
    fewer), picked and shuffled with ``seed``: uint8 (n, 3, 32, 32) and labels (n,). With
    ``jitter``, every pixel moves by a random amount in [-jitter, jitter] grey levels."""
    import os

    X, y = _test_split((os.environ.get("COURSE_DATA_DIR"), os.environ.get("COURSE_DATA_CHECKSUMS")))
    g = torch.Generator().manual_seed(10_000 + seed)
    picks = []
    for k in range(10):
        members = (y == k).nonzero().flatten()
        picks.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    idx = torch.cat(picks)
    idx = idx[torch.randperm(len(idx), generator=g)]
    images, labels = X[idx], y[idx]
    if jitter:
        noise = torch.randint(-jitter, jitter + 1, images.shape, generator=g)
        images = (images.to(torch.int16) + noise).clamp(0, 255).to(torch.uint8)
    return images, labels


def _per_class(pred: torch.Tensor, labels: torch.Tensor) -> str:
    from course.data import CIFAR10_CLASSES

    parts = []
    for k, name in enumerate(CIFAR10_CLASSES):
        mask = labels == k
        if mask.any():
            parts.append(f"{name} {100 * (pred[mask] == k).float().mean().item():.0f}%")
    return ", ".join(parts)


@graded
def cifar_accuracy(cls, weights_file: str, points: float = 6, hidden: bool = False) -> float:
    """Check ``CifarCNN()`` with the weights in ``weights_file`` by its accuracy on held-out images.

    The weights are loaded into the learner's own class in the learner's kernel (probe
    ``weights_info``, then ``weights_logits``: ``torch.load(weights_only=True)``, at most
    ``MAX_WEIGHTS_MB``). The check sends 200 images per class of the CIFAR-10 test split
    (2,000; seed 0, or the hidden seed with one grey level of jitter), gets the logits back and
    computes the accuracy from the labels it keeps. Parts, one per band of ``BANDS``: accuracy
    >= 45% (1/3), >= 55% (1/3), >= 65% (1/3); so 0, 2, 4 or 6 of 6 points.
    """
    from course.data import CIFAR10_MEAN, CIFAR10_STD

    q = Question("CifarCNN", {name: 1 for name, _ in BANDS}, points, hidden)
    parts = list(q.parts)
    spec = q.hidden_value("a4.HELD_OUT") if hidden else None
    q.counts = [0, 1] if spec else [1, 0]
    spec = spec or HELD_OUT_VISIBLE
    if not isinstance(weights_file, str) or not weights_file:
        q.fail(parts, f"the test cell should name the weights file, got {check.describe(weights_file)}")
        return q.result()
    max_bytes = MAX_WEIGHTS_MB * 2**20
    ok, info = q.run("weights_info", cls, (), weights_file, max_bytes, label=f"CifarCNN() with {weights_file}",
                     timeout=30.0)
    if not ok:
        return q.result()
    if not isinstance(info, dict) or "problem" in info or "parameters" not in info:
        why = info.get("problem") if isinstance(info, dict) else None
        q.fail(parts, str(why or f"the weights could not be checked ({check.describe(info)})"))
        return q.result()
    try:
        images, labels = held_out(spec["seed"], spec["per_class"], spec.get("jitter", 0))
    except Exception as err:  # noqa: BLE001 - the grader's data, not the learner's fault
        q.fail(parts, f"the check could not load the CIFAR-10 test images ({type(err).__name__}: "
                      f"{str(err).splitlines()[0][:200] if str(err) else ''}); tell your instructor")
        return q.result()
    n = len(labels)
    label = f"{n:,} held-out CIFAR-10 test images"
    ok, logits = q.run("weights_logits", cls, (), weights_file, max_bytes, images, list(CIFAR10_MEAN),
                       list(CIFAR10_STD), label=label, timeout=EVAL_TIMEOUT)
    if not ok:
        return q.result()
    try:
        values = torch.as_tensor(plain(logits))
    except Exception as err:  # noqa: BLE001 - the learner's output is the message
        q.fail(parts, f"{label}: expected logits of shape ({n}, 10), got {check.describe(logits)} ({err})")
        return q.result()
    if tuple(values.shape) != (n, 10) or not bool(torch.isfinite(values).all()):
        q.fail(parts, f"{label}: expected finite logits of shape ({n}, 10), got {check.describe(logits)}")
        return q.result()
    pred = values.argmax(dim=1)
    accuracy = (pred == labels).double().mean().item()
    for name, bar in BANDS:
        q.record(name, accuracy >= bar, f"accuracy {100 * accuracy:.1f}% on {label} is below {100 * bar:.0f}%")
    earned = q.result()
    print(f"  accuracy {100 * accuracy:.1f}% on {label} ({info['parameters']:,} parameters, weights file "
          f"{info['bytes'] / 2**20:.2f} MiB)")
    print(f"  per class: {_per_class(pred, labels)}")
    return earned

