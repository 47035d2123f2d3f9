"""Checks for lesson 13 (Inception, and why 1x1 convolutions cut cost).

Exercises:
    1. ``bottleneck_multiplications(fn)``: multiplications of a 1x1 bottleneck followed by a
       k x k convolution.
    2. ``receptive_field(fn)``: how many input pixels (per side) a stack of stride-1 convs sees.
    3. ``inception_block(cls)``: the Inception block itself, checked by its properties (shape,
       parameter count, each branch's receptive field read from gradients).

PyTorch is the oracle: multiplications are counted by ``torch.utils.flop_counter`` on the real
layers (built on the ``meta`` device, so nothing is computed), receptive fields are read off the
gradient of one output pixel, and parameters are counted on real ``nn.Conv2d`` layers. Each check
prints one line (expected vs got on failure) and returns the points earned; it never raises.
"""
from __future__ import annotations

import torch
from torch import nn

from course import check


def _exact_counts(name: str, fn, reference, cases) -> float:
    """Like ``check.function`` for integer answers, but prints the numbers in full.

    Counts here reach 10^8, where ``check``'s 6-significant-digit format would show two different
    answers as the same ``1.24436e+07``.
    """
    import copy

    if not callable(fn):
        return check.report(name, 0, 1, 1.0, f"expected a function, got {check.describe(fn)}")
    passed, problem, notes = 0, None, []
    for i, args in enumerate(cases):
        expected = reference(*args)
        outcome = check.run_safely(fn, *copy.deepcopy(args))
        notes += outcome.warnings
        why = outcome.error or _integer_problem(outcome.value, expected)
        if why is None:
            passed += 1
        elif problem is None:
            inputs = ", ".join(f"{a}" for a in args)
            problem = f"case {i + 1} ({name}({inputs})): {why}"
    return check.report(name, passed, len(cases), 1.0, problem, notes[:1])


def _integer_problem(got, expected: int) -> str | None:
    try:
        value = check.to_numbers(got)
    except check.NotANumber:
        return f"got {check.describe(got)}; expected an integer"
    if value.size != 1:
        return f"expected one integer ({expected:,}), got {check.describe(got)}"
    value = float(value.reshape(()))
    if value == expected:
        return None
    shown = f"{int(value):,}" if value.is_integer() else f"{value:,.4f}"
    return f"expected {expected:,}, got {shown}"


def counted_multiplications(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass of ``model`` on an input of ``input_shape``.

    Counted by PyTorch's ``FlopCounterMode`` (which reports 2 FLOPs per multiply-add) on the
    ``meta`` device: only shapes are propagated, so even big layers cost nothing. Biases, ReLUs
    and pooling are not counted (they are tiny next to the convolutions).
    """
    from torch.utils.flop_counter import FlopCounterMode

    meta_model = _to_meta(model)
    x = torch.zeros(input_shape, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta_model(x)
    return counter.get_total_flops() // 2


def _to_meta(model: nn.Module) -> nn.Module:
    import copy

    clone = copy.deepcopy(model)
    return clone.to_empty(device="meta")


def _reference_bottleneck(c_in, c_mid, c_out, kernel, height, width) -> int:
    path = nn.Sequential(nn.Conv2d(c_in, c_mid, 1), nn.Conv2d(c_mid, c_out, kernel, padding=kernel // 2))
    return counted_multiplications(path, (1, c_in, height, width))


def bottleneck_multiplications(fn) -> float:
    """Check ``fn(c_in, c_mid, c_out, kernel, height, width)`` -> multiplications (an int).

    The path is a 1x1 conv ``c_in -> c_mid``, then a ``kernel x kernel`` conv ``c_mid -> c_out``
    with "same" padding, on one ``height x width`` image (batch of 1).
    """
    cases = [(192, 16, 32, 5, 28, 28), (256, 64, 128, 3, 14, 14), (10, 16, 24, 5, 12, 12),
             (3, 1, 1, 1, 4, 4), (480, 96, 208, 3, 7, 7)]
    return _exact_counts("bottleneck_multiplications", fn, _reference_bottleneck, cases)


def _measured_receptive_field(num_layers: int, kernel: int) -> int:
    """Width of the input region that one output pixel of ``num_layers`` stacked convs depends on."""
    reach = num_layers * (kernel - 1)            # generous: the image is big enough either way
    size = 2 * reach + 3
    stack = nn.Sequential(*[nn.Conv2d(1, 1, kernel, bias=False) for _ in range(num_layers)])
    for conv in stack:
        nn.init.constant_(conv.weight, 1.0)      # positive weights: no accidental cancellation
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    out = stack(x)
    centre = out.shape[-1] // 2
    out[0, 0, centre, centre].backward()
    seen = x.grad[0, 0].abs().sum(dim=0) > 0     # columns the output pixel depends on
    return int(seen.sum())


def receptive_field(fn) -> float:
    """Check ``fn(num_layers, kernel)`` -> receptive field (pixels per side) of stacked stride-1 convs."""
    cases = [(1, 5), (2, 3), (1, 3), (3, 3), (2, 5), (4, 3), (1, 1), (3, 1)]
    return _exact_counts("receptive_field", fn, _measured_receptive_field, cases)


# --------------------------------------------------------------------------------------------
# Exercise 3: the Inception block, checked by its properties
# --------------------------------------------------------------------------------------------
BRANCHES = ("1x1", "5x5", "3x3-3x3", "pool")
EXPECTED_FIELDS = (1, 5, 5, 3)   # receptive field (pixels per side) of each branch
INCEPTION_CASES = [(6, 3, 2, 4, 2, 5, 3),  # distinct widths: c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool
                   (4, 2, 2, 2, 2, 2, 2)]  # equal widths: a concatenation on the wrong axis still runs


def conv_bn(c_in, c_out, kernel_size, padding=0):
    """Conv2d without bias, then BatchNorm2d (the lesson's helper): (N, c_in, H, W) -> (N, c_out, H', W')."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size, padding=padding, bias=False),
                         nn.BatchNorm2d(c_out))


class Inception(nn.Module):
    """The lesson's Inception block; the notebook falls back on it while the learner's does not pass.

    (N, c_in, H, W) -> (N, w1 + w5 + w3 + w_pool, H, W); branches in the order 1x1 | 1x1 -> 5x5 |
    1x1 -> 3x3 -> 3x3 | 3x3 average pool -> 1x1, concatenated on the channel axis.
    """

    def __init__(self, c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool):
        super().__init__()
        self.branch1 = conv_bn(c_in, w1, 1)
        self.branch5 = nn.Sequential(conv_bn(c_in, w5_reduce, 1), nn.ReLU(),
                                     conv_bn(w5_reduce, w5, 5, padding=2))
        self.branch3 = nn.Sequential(conv_bn(c_in, w3_reduce, 1), nn.ReLU(),
                                     conv_bn(w3_reduce, w3, 3, padding=1), nn.ReLU(),
                                     conv_bn(w3, w3, 3, padding=1))
        self.branch_pool = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), conv_bn(c_in, w_pool, 1))
        self.out_channels = w1 + w5 + w3 + w_pool

    def forward(self, x):
        return torch.relu(torch.cat([self.branch1(x), self.branch5(x), self.branch3(x),
                                     self.branch_pool(x)], dim=1))


def _expected_parameters(c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool, *, bias=False, bn=True,
                         reduce5=True, reduce3=True) -> int:
    """Parameters of the specified block, counted on real layers (variants name common slips)."""
    def cb(i, o, k):
        layers = [nn.Conv2d(i, o, k, bias=bias)] + ([nn.BatchNorm2d(o)] if bn else [])
        return nn.Sequential(*layers)
    parts = [cb(c_in, w1, 1), cb(c_in, w_pool, 1)]
    parts += [cb(c_in, w5_reduce, 1), cb(w5_reduce, w5, 5)] if reduce5 else [cb(c_in, w5, 5)]
    parts += [cb(c_in, w3_reduce, 1), cb(w3_reduce, w3, 3)] if reduce3 else [cb(c_in, w3, 3)]
    parts += [cb(w3, w3, 3)]
    return sum(p.numel() for part in parts for p in part.parameters())


def _parameter_hint(count: int, widths) -> str:
    slips = {"the 5x5 branch has no 1x1 bottleneck (reduce) in front of its 5x5 conv":
             dict(reduce5=False),
             "the 3x3-3x3 branch has no 1x1 bottleneck (reduce) in front of its first 3x3 conv":
             dict(reduce3=False),
             "neither the 5x5 nor the 3x3-3x3 branch has its 1x1 bottleneck":
             dict(reduce5=False, reduce3=False),
             "the convolutions have biases; use conv_bn (bias=False, BatchNorm2d supplies the shift)":
             dict(bias=True),
             "there is no batch normalisation after the convolutions; use conv_bn":
             dict(bn=False)}
    for why, kwargs in slips.items():
        if count == _expected_parameters(*widths, **kwargs):
            return f" That is the count when {why}."
    return ""


def _positive_copy(block: nn.Module) -> nn.Module:
    """A copy in eval mode with positive conv weights and neutral batch norms, so that every ReLU
    passes its input on and no gradient cancels by chance (as ``all_ones`` in the lesson)."""
    import copy

    clone = copy.deepcopy(block).eval()
    g = torch.Generator().manual_seed(12)
    with torch.no_grad():
        for m in clone.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()                  # mean 0, var 1, weight 1, bias 0
    return clone


def branch_receptive_fields(block: nn.Module, c_in: int, widths, size: int = 11, batch: int = 8):
    """Height x width of the input region that the centre pixel of each branch's channel range
    depends on: the gradient of that output w.r.t. the input, and where it is non-zero.

    A batch of ``batch`` random positive images is used; the union over it is taken, so that max
    pooling (whose gradient picks one pixel per image and channel) shows its full 3 x 3 window.
    """
    model = _positive_copy(block)
    x = (0.5 + torch.rand(batch, c_in, size, size, generator=torch.Generator().manual_seed(3)))
    x.requires_grad_(True)
    out = model(x)
    c = size // 2
    fields, start = [], 0
    for width in widths:
        if x.grad is not None:
            x.grad = None
        out[:, start:start + width, c, c].sum().backward(retain_graph=True)
        seen = x.grad.abs().sum(dim=(0, 1)) > 0              # (size, size): pixels it depends on
        rows, cols = seen.any(dim=1).nonzero().flatten(), seen.any(dim=0).nonzero().flatten()
        fields.append((int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1))
                      if len(rows) else (0, 0))
        start += width
    return fields


def _inception_problem(block_class) -> str | None:
    """What is wrong with the learner's Inception class (``None``: nothing)."""
    made = []
    for widths in INCEPTION_CASES:
        c_in, w1, w5r, w5, w3r, w3, wp = widths
        call = f"Inception({', '.join(map(str, widths))})"
        built = check.run_safely(block_class, *widths)
        if built.error:
            return f"{call} {built.error}"
        block = built.value
        if not isinstance(block, nn.Module):
            return f"{call} is {check.describe(block)}, not an nn.Module"
        x = torch.randn(2, c_in, 11, 11, generator=torch.Generator().manual_seed(c_in))
        out = check.run_safely(block, x)
        if out.error:
            hint = ""
            if "except in dimension 1" in out.error:
                hint = (" (the branch outputs differ in H or W: every branch needs stride 1 and "
                        "'same' padding, k // 2)")
            elif "Sizes of tensors must match" in out.error:
                hint = (" (torch.cat needs equal sizes except on the axis it joins: concatenate "
                        "the branches on the channel axis, dim=1)")
            return f"{call} on an input of shape {tuple(x.shape)} {out.error}{hint}"
        y, total = out.value, w1 + w5 + w3 + wp
        expected = (2, total, 11, 11)
        if not isinstance(y, torch.Tensor):
            return f"{call}(x) returned {check.describe(y)}; expected a tensor of shape {expected}"
        if tuple(y.shape) != expected:
            shape = tuple(y.shape)
            axis = next((a for a in (0, 2, 3) if len(shape) == 4 and shape[a] == 4 * expected[a]
                         and shape[1] == w1), None)
            if axis is not None:
                why = f"the branches were concatenated along dim={axis}; the channel axis is dim=1"
            elif len(shape) == 4 and shape[2:] != (11, 11):
                why = "H and W changed: every branch needs stride 1 and 'same' padding (k // 2)"
            elif len(shape) == 4 and shape[1] != total:
                why = f"the channels should be the sum of the branches, {w1}+{w5}+{w3}+{wp} = {total}"
            else:
                why = "wrong shape"
            return f"{call} on input {tuple(x.shape)}: expected output shape {expected}, got {shape}: {why}"
        if getattr(block, "out_channels", None) != total:
            return f"{call}.out_channels should be {total} (w1 + w5 + w3 + w_pool), got {getattr(block, 'out_channels', None)!r}"
        made.append((block, widths))
    block, widths = made[0]
    call = f"Inception({', '.join(map(str, widths))})"
    count = sum(p.numel() for p in block.parameters())
    expected_count = _expected_parameters(*widths)
    if count != expected_count:
        return (f"{call} has {count:,} parameters, expected {expected_count:,} (every conv as "
                f"conv_bn, the 1x1 bottlenecks in front of the 5x5 and the 3x3s, 1x1 after the "
                f"pooling).{_parameter_hint(count, widths)}")
    c_in, w1, w5r, w5, w3r, w3, wp = widths
    fields = check.run_safely(branch_receptive_fields, block, c_in, (w1, w5, w3, wp))
    if fields.error:
        return f"reading the receptive fields from gradients {fields.error}"
    start = 0
    for name, width, field, want in zip(BRANCHES, (w1, w5, w3, wp), fields.value, EXPECTED_FIELDS):
        if field != (want, want):
            return (f"output channels {start}..{start + width - 1} (the {name} branch, in the order "
                    f"1x1, 5x5, 3x3-3x3, pool) depend on a {field[0]} x {field[1]} input region, "
                    f"expected {want} x {want} (read from the gradient of their centre pixel)")
        start += width
    return None


def inception_block(block_class) -> float:
    """Check an Inception class ``(c_in, w1, w5_reduce, w5, w3_reduce, w3, w_pool)`` by its
    properties, on two sets of widths:

    * output shape ``(N, w1 + w5 + w3 + w_pool, H, W)``: channels add up, H and W are kept
      (a concatenation on another axis fails here), and ``out_channels`` says so;
    * the parameter count of conv_bn layers with 1x1 bottlenecks (a missing bottleneck, biases
      or a missing batch norm fail, and the message names the slip);
    * the receptive field of each branch's channel range, read from the gradient of its centre
      output pixel w.r.t. the input: 1x1, 5x5, 5x5 (two 3x3) and 3x3 (pooling), in that order.

    Prints one line and returns 1.0 when every property holds, else 0.
    """
    if not isinstance(block_class, type):
        return check.report("Inception", 0, 1, 1.0, f"expected a class, got {check.describe(block_class)}")
    problem = _inception_problem(block_class)
    return check.report("Inception", problem is None, 1, 1.0, problem)
