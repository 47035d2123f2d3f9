"""Checks for lesson 12 (Inception, and why 1x1 convolutions cut cost).

Exercises:
    1. ``bottleneck_multiplications(fn)``: multiplications of a 1x1 bottleneck followed by a
       k x k convolution.
    2. ``receptive_field(fn)``: how many input pixels (per side) a stack of stride-1 convs sees.
    3. ``stacked_weights(fn)``: the weights of a stack of k x k convolutions (no biases).

PyTorch is the oracle: multiplications are counted by ``torch.utils.flop_counter`` on the real
layers (built on the ``meta`` device, so nothing is computed), receptive fields are read off the
gradient of one output pixel, and weights are counted on real ``nn.Conv2d`` layers. Each check
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


def _counted_stacked_weights(channels: int, kernel: int, num_layers: int) -> int:
    stack = nn.Sequential(*[nn.Conv2d(channels, channels, kernel, bias=False)
                            for _ in range(num_layers)])
    return sum(p.numel() for p in stack.parameters())


def stacked_weights(fn) -> float:
    """Check ``fn(channels, kernel, num_layers)`` -> weights of ``num_layers`` convs C -> C (no bias)."""
    cases = [(16, 5, 1), (16, 3, 2), (64, 3, 2), (64, 5, 1), (8, 3, 3), (32, 7, 1), (4, 1, 4)]
    return _exact_counts("stacked_weights", fn, _counted_stacked_weights, cases)
