"""Checks for lesson 14 (ResNet): three other designs of a residual block.

Exercises:
    1. ``preact_block(PreActBlock)``: the pre-activation block of He et al. (2016),
       ``x + conv2(relu(bn2(conv1(relu(bn1(x))))))``.
    2. ``bottleneck_block(Bottleneck)``: ResNet-50's 1x1 -> 3x3 -> 1x1 block,
       ``relu(x + bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))))``.
    3. ``dense_block(DenseBlock)``: a DenseNet block that concatenates instead of adding.

Each check builds the learner's class with a few sizes and tests what any correct answer must do:
the output shape, the number of parameters (counted on real ``nn.Conv2d``/``nn.BatchNorm2d``
layers, the oracle), and a property of the design, computed with PyTorch's functional ops from the
learner's own layers (for example: with all conv weights zero, a pre-activation block is exactly
the identity). It prints one line per property, expected vs got on failure, and returns 1.0 when
everything holds, else 0.0. It never raises.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from course import check

_PROPERTY_ATOL = 1e-4


# ------------------------------------------------------------------------------------------
# Shared plumbing
# ------------------------------------------------------------------------------------------
def _build(name: str, cls, *args):
    """Instantiate the learner's class; returns (module, None) or (None, why not)."""
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        return None, f"expected an nn.Module class, got {check.describe(cls)}"
    outcome = check.run_safely(cls, *args)
    if outcome.error:
        return None, f"{cls.__name__}{args} {outcome.error}"
    return outcome.value, None


def _forward(module: nn.Module, x: torch.Tensor):
    """Run the learner's forward in eval mode; returns (output, None) or (None, why not)."""
    module.eval()
    with torch.no_grad():
        outcome = check.run_safely(module, x)
    if outcome.error:
        return None, f"forward {outcome.error}"
    if not isinstance(outcome.value, torch.Tensor):
        return None, f"forward returned {check.describe(outcome.value)}, expected a tensor"
    return outcome.value, None


def _layers(module: nn.Module, kind) -> list:
    return [m for m in module.modules() if isinstance(m, kind)]


def _randomize_bn(module: nn.Module, seed: int) -> None:
    """Give every BatchNorm non-trivial scale, shift and running statistics (eval mode uses them)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in _layers(module, nn.BatchNorm2d):
            n = bn.num_features
            if bn.weight is not None:
                bn.weight.copy_(0.5 + torch.rand(n, generator=g))
                bn.bias.copy_(torch.randn(n, generator=g) * 0.2)
            if bn.running_mean is not None:
                bn.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                bn.running_var.copy_(0.5 + torch.rand(n, generator=g))


def _zero_convs(module: nn.Module) -> None:
    with torch.no_grad():
        for conv in _layers(module, nn.Conv2d):
            conv.weight.zero_()
            if conv.bias is not None:
                conv.bias.zero_()


def _bn(x, bn: nn.BatchNorm2d):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def _conv(x, conv: nn.Conv2d):
    return conv._conv_forward(x, conv.weight, conv.bias)


def _count(*layers: nn.Module) -> int:
    return sum(p.numel() for layer in layers for p in layer.parameters())


def _finish(name: str, results: list[tuple[str, str | None]]) -> float:
    """Report the checked properties: one line when all hold, else one line per failure.

    Returns 1.0 when every property holds, else 0.0.
    """
    failed = [(what, problem) for what, problem in results if problem is not None]
    if not failed:
        checked = list(dict.fromkeys(what.split(" (")[0] for what, _ in results))
        check.report(name, 1, 1, 1.0)
        print(f"  checked: {'; '.join(checked)}")
        return 1.0
    for what, problem in failed:
        print(f"{check.FAIL} {name}, {what}: {problem}")
    passed = len(results) - len(failed)
    if passed:
        print(f"  ({passed} of {len(results)} checks passed)")
    return 0.0


def _shape_problem(out, expected: tuple) -> str | None:
    if out is None:
        return "no output"
    if tuple(out.shape) != expected:
        return f"expected output shape {expected}, got {tuple(out.shape)}"
    return None


def _count_problem(module: nn.Module, expected: int, hint: str) -> str | None:
    got = sum(p.numel() for p in module.parameters())
    if got != expected:
        return f"expected {expected:,} parameters, got {got:,} ({hint})"
    return None


# ------------------------------------------------------------------------------------------
# Exercise 1: the pre-activation block
# ------------------------------------------------------------------------------------------
def _preact_reference(block: nn.Module, x: torch.Tensor):
    """x + conv_b(relu(bn_b(conv_a(relu(bn_a(x)))))) with the learner's layers, in any order."""
    convs, bns = _layers(block, nn.Conv2d), _layers(block, nn.BatchNorm2d)
    if len(convs) != 2 or len(bns) != 2:
        return None
    outs = []
    for (c1, c2), (b1, b2) in itertools.product(itertools.permutations(convs),
                                                 itertools.permutations(bns)):
        outs.append(x + _conv(F.relu(_bn(_conv(F.relu(_bn(x, b1)), c1), b2)), c2))
    return outs


@torch.no_grad()
def preact_block(cls) -> float:
    """Check ``cls(channels)``: BN -> ReLU -> conv3x3 -> BN -> ReLU -> conv3x3, plus x (no ReLU after).

    Properties: the shape (N, C, H, W) is kept; 18 C^2 + 4 C parameters (convs without bias);
    with zero conv weights the block is the identity; the output equals the formula computed
    with the block's own layers.
    """
    name = "PreActBlock"
    results = []
    torch.manual_seed(0)
    for channels in (8, 4):
        block, why = _build(name, cls, channels)
        if block is None:
            return _finish(name, [("builds", why)])
        _randomize_bn(block, channels)
        x = torch.randn(2, channels, 6, 5)
        out, why = _forward(block, x)
        results.append((f"output shape (C={channels})", why or _shape_problem(out, tuple(x.shape))))
        results.append((f"parameters (C={channels})", _count_problem(
            block, _count(*[nn.Conv2d(channels, channels, 3, bias=False) for _ in range(2)],
                          *[nn.BatchNorm2d(channels) for _ in range(2)]),
            "two 3x3 convs without bias and two BatchNorm2d")))
        if out is None or tuple(out.shape) != tuple(x.shape):
            break
        refs = _preact_reference(block, x)
        if refs is None:
            results.append(("follows the formula", "expected exactly two Conv2d and two BatchNorm2d "
                            f"layers, found {len(_layers(block, nn.Conv2d))} and "
                            f"{len(_layers(block, nn.BatchNorm2d))}"))
        else:
            best = min(refs, key=lambda r: float((r - out).abs().max()))
            results.append((f"follows x + conv(relu(bn(conv(relu(bn(x)))))) (C={channels})",
                            check.compare(out, best, atol=_PROPERTY_ATOL, rtol=1e-4)))
        block, _ = _build(name, cls, channels)   # fresh BatchNorms: eval mode is the identity
        _zero_convs(block)
        out0, why = _forward(block, x)
        results.append((f"identity when the conv weights are zero (C={channels})",
                        why or _identity_problem(out0, x)))
    return _finish(name, results)


def _identity_problem(out, x) -> str | None:
    if out is None or out.shape != x.shape:
        return "no output of the input's shape"
    if torch.allclose(out, x, atol=_PROPERTY_ATOL):
        return None
    if torch.allclose(out, F.relu(x), atol=_PROPERTY_ATOL):
        return ("got relu(x): a ReLU after the addition blocks the identity path; "
                "pre-activation puts BN and ReLU before each conv, nothing after the sum")
    return f"expected the input back; {check.compare(out, x, atol=_PROPERTY_ATOL)}"


# ------------------------------------------------------------------------------------------
# Exercise 2: the bottleneck block
# ------------------------------------------------------------------------------------------
def _bottleneck_reference(block: nn.Module, x: torch.Tensor, channels: int, mid: int):
    """relu(x + bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))))) with the learner's layers.

    The convs are told apart by their shapes; the two BatchNorms of width ``mid`` are tried in
    both orders. Returns a list of candidate outputs, or None when the layers do not fit.
    """
    convs = _layers(block, nn.Conv2d)
    def find(c_in, c_out, k):
        return [c for c in convs if (c.in_channels, c.out_channels, c.kernel_size) == (c_in, c_out, (k, k))]
    c1, c2, c3 = find(channels, mid, 1), find(mid, mid, 3), find(mid, channels, 1)
    bns = _layers(block, nn.BatchNorm2d)
    narrow = [b for b in bns if b.num_features == mid]
    wide = [b for b in bns if b.num_features == channels]
    if len(convs) != 3 or not (c1 and c2 and c3) or len(narrow) != 2 or len(wide) != 1:
        return None
    outs = []
    for b1, b2 in itertools.permutations(narrow):
        h = F.relu(_bn(_conv(x, c1[0]), b1))
        h = F.relu(_bn(_conv(h, c2[0]), b2))
        outs.append(F.relu(x + _bn(_conv(h, c3[0]), wide[0])))
    return outs


@torch.no_grad()
def bottleneck_block(cls) -> float:
    """Check ``cls(channels, mid)``: 1x1 conv (C -> mid), 3x3 conv (mid -> mid, padding 1),
    1x1 conv (mid -> C), each without bias and followed by a BatchNorm; ReLU after the first two;
    the output is relu(x + branch).

    Properties: the shape (N, C, H, W) is kept; the parameter count; the output equals the formula
    computed with the block's own layers; with zero conv weights (and fresh BatchNorms) the branch
    outputs 0 and the block returns relu(x).
    """
    name = "Bottleneck"
    results = []
    torch.manual_seed(1)
    for channels, mid in ((16, 4), (8, 2)):
        block, why = _build(name, cls, channels, mid)
        if block is None:
            return _finish(name, [("builds", why)])
        x = torch.randn(2, channels, 5, 6)
        size = f"C={channels}, mid={mid}"
        # Fresh BatchNorms in eval mode are the identity: zero convs -> branch 0 -> relu(x).
        _zero_convs(block)
        out0, why = _forward(block, x)
        results.append((f"output shape ({size})", why or _shape_problem(out0, tuple(x.shape))))
        reference = [nn.Conv2d(channels, mid, 1, bias=False), nn.Conv2d(mid, mid, 3, bias=False),
                     nn.Conv2d(mid, channels, 1, bias=False), nn.BatchNorm2d(mid),
                     nn.BatchNorm2d(mid), nn.BatchNorm2d(channels)]
        results.append((f"parameters ({size})", _count_problem(
            block, _count(*reference), "1x1, 3x3 and 1x1 convs without bias, each followed by a BatchNorm2d")))
        if out0 is None or tuple(out0.shape) != tuple(x.shape):
            break
        results.append((f"skip connection and final ReLU ({size})", _relu_identity_problem(out0, x)))
        block, _ = _build(name, cls, channels, mid)
        _randomize_bn(block, channels)
        out, why = _forward(block, x)
        refs = _bottleneck_reference(block, x, channels, mid)
        if why is None and refs is None:
            why = ("expected convs C->mid (1x1), mid->mid (3x3), mid->C (1x1) and BatchNorms of "
                   "widths mid, mid, C")
        elif why is None:
            best = min(refs, key=lambda r: float((r - out).abs().max()))
            why = check.compare(out, best, atol=_PROPERTY_ATOL, rtol=1e-4)
        results.append((f"follows relu(x + bn(conv(relu(bn(conv(relu(bn(conv(x))))))))) ({size})", why))
    return _finish(name, results)


def _relu_identity_problem(out, x) -> str | None:
    if torch.allclose(out, F.relu(x), atol=_PROPERTY_ATOL):
        return None
    if torch.allclose(out, x, atol=_PROPERTY_ATOL):
        return "with a zero branch the output is x: expected relu(x), the ReLU after the sum is missing"
    if torch.allclose(out, torch.zeros_like(out), atol=_PROPERTY_ATOL):
        return "with a zero branch the output is 0: expected relu(x), the skip connection (x + ...) is missing"
    return f"with a zero branch expected relu(x); {check.compare(out, F.relu(x), atol=_PROPERTY_ATOL)}"


# ------------------------------------------------------------------------------------------
# Exercise 3: the dense block
# ------------------------------------------------------------------------------------------
def _dense_reference(block: nn.Module, x: torch.Tensor, c0: int, k: int, num_layers: int):
    """Layer i: conv_i(relu(bn_i(features))) concatenated to the features, with the learner's layers."""
    convs, bns = _layers(block, nn.Conv2d), _layers(block, nn.BatchNorm2d)
    features = x
    for i in range(num_layers):
        width = c0 + i * k
        conv = [c for c in convs if (c.in_channels, c.out_channels) == (width, k)]
        bn = [b for b in bns if b.num_features == width]
        if len(conv) != 1 or len(bn) != 1:
            return None
        features = torch.cat([features, _conv(F.relu(_bn(features, bn[0])), conv[0])], dim=1)
    return features


@torch.no_grad()
def dense_block(cls) -> float:
    """Check ``cls(in_channels, growth, num_layers)``: layer i is BN -> ReLU -> conv3x3
    (in_channels + i*growth -> growth, padding 1, no bias), and its output is concatenated to its
    input along the channels.

    Properties: the output has in_channels + num_layers*growth channels and the same H, W; the
    parameter count; the first in_channels output channels are the input itself; the output equals
    the formula computed with the block's own layers.
    """
    name = "DenseBlock"
    results = []
    torch.manual_seed(2)
    for c0, k, num_layers in ((6, 4, 3), (3, 2, 2)):
        block, why = _build(name, cls, c0, k, num_layers)
        if block is None:
            return _finish(name, [("builds", why)])
        _randomize_bn(block, c0)
        x = torch.randn(2, c0, 5, 5)
        out, why = _forward(block, x)
        size = f"in={c0}, growth={k}, layers={num_layers}"
        expected_shape = (2, c0 + num_layers * k, 5, 5)
        results.append((f"output shape ({size})", why or _shape_problem(out, expected_shape)))
        reference = []
        for i in range(num_layers):
            reference += [nn.BatchNorm2d(c0 + i * k), nn.Conv2d(c0 + i * k, k, 3, bias=False)]
        results.append((f"parameters ({size})", _count_problem(
            block, _count(*reference), "each layer: BatchNorm2d(c_i) and a 3x3 conv c_i -> growth without bias")))
        if out is None or tuple(out.shape) != expected_shape:
            break
        why = check.compare(out[:, :c0], x, atol=_PROPERTY_ATOL)
        results.append((f"keeps the input as the first channels ({size})",
                        f"torch.cat([x, new], dim=1) puts x first; {why}" if why else None))
        ref = _dense_reference(block, x, c0, k, num_layers)
        why = ("expected one BatchNorm2d(c_i) and one conv c_i -> growth per layer, "
               "c_i = in_channels + i * growth") if ref is None else \
            check.compare(out, ref, atol=_PROPERTY_ATOL, rtol=1e-4)
        results.append((f"follows cat([x, conv(relu(bn(x)))]) layer by layer ({size})", why))
    return _finish(name, results)
