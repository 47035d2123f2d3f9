"""Checks for lesson 11 (a CNN on MNIST).

Exercises:
    1. ``conv_output_size(fn)``: the output height of a convolution (or pooling) layer.
    2. ``conv_num_parameters(fn)``: the number of weights and biases of an ``nn.Conv2d``.
    3. ``max_pool2x2(fn)``: 2x2 max pooling with stride 2, written with ``reshape`` and ``amax``.

PyTorch is the oracle: the checks build the real layers (``nn.Conv2d``, ``F.max_pool2d``) and
run them on dummy inputs, so no solution is stored here. Each check prints one line (expected vs
got on failure) and returns the points earned; it never raises.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from course import check

# (size, kernel, padding, stride): square inputs and kernels, as in the lesson
CONV_CASES = [
    (28, 5, 0, 1),   # LeNet's first layer: 28 -> 24
    (12, 5, 0, 1),   # its second layer: 12 -> 8
    (28, 3, 1, 1),   # "same" padding keeps the size
    (28, 5, 2, 1),
    (32, 3, 1, 2),   # stride 2 halves it
    (28, 2, 0, 2),   # a 2x2 pool with stride 2
    (7, 3, 0, 2),    # the floor matters: (7 - 3) / 2 + 1 = 3
    (224, 7, 3, 2),  # ResNet's stem: 224 -> 112
]


def _measured_size(size: int, kernel: int, padding: int = 0, stride: int = 1) -> int:
    """Height of ``nn.Conv2d(1, 1, kernel, stride, padding)`` applied to a (1, 1, size, size) zero image."""
    conv = torch.nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, bias=False)
    with torch.no_grad():
        return int(conv(torch.zeros(1, 1, size, size)).shape[-1])


def conv_output_size(fn) -> float:
    """Check ``fn(size, kernel, padding, stride)`` -> the output size (an int) of a conv layer."""
    return check.function("conv_output_size", fn, _measured_size, CONV_CASES, atol=0, rtol=0)


def _counted_parameters(in_channels: int, out_channels: int, kernel: int) -> int:
    conv = torch.nn.Conv2d(in_channels, out_channels, kernel)
    return sum(p.numel() for p in conv.parameters())


def conv_num_parameters(fn) -> float:
    """Check ``fn(in_channels, out_channels, kernel)`` -> weights + biases of ``nn.Conv2d``."""
    cases = [(1, 16, 5), (16, 32, 5), (3, 6, 5), (64, 64, 3), (192, 32, 1)]
    return check.function("conv_num_parameters", fn, _counted_parameters, cases, atol=0, rtol=0)


def max_pool2x2(fn) -> float:
    """Check ``fn(x)``: (N, C, H, W) with even H, W -> (N, C, H/2, W/2), the max of each 2x2 block.

    Reference: ``F.max_pool2d(x, 2)``.
    """
    g = torch.Generator().manual_seed(11)
    cases = [(torch.randn(2, 3, 4, 4, generator=g),),
             (torch.randn(1, 1, 2, 6, generator=g),),
             (torch.randn(5, 2, 8, 10, generator=g),),
             (torch.arange(16.0).reshape(1, 1, 4, 4),)]
    return check.function("max_pool2x2", fn, lambda x: F.max_pool2d(x, 2), cases)
