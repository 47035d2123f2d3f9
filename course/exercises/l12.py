"""Checks for lesson 12 (a CNN on MNIST).

Exercises:
    1. ``conv_output_size(fn)``: the output height of a convolution (or pooling) layer.
    2. ``conv_num_parameters(fn)``: the number of weights and biases of an ``nn.Conv2d``.
    3. ``max_pool2x2(fn)``: 2x2 max pooling with stride 2, written with ``reshape`` and ``amax``.
    4. ``check_wider_network(time_fn, base, wide, device)``: a LeNet with wider conv layers, and
       a timing function for one forward + backward pass (the timings are reported, not graded).

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


# --------------------------------------------------------------------------------------------
# Exercise 4: widen the network and time it (the 60-minute blitz's exercise)
# --------------------------------------------------------------------------------------------
def _conv_channels(model: torch.nn.Module) -> list[int]:
    return [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def _multiplications(model: torch.nn.Module, image_shape=(1, 28, 28)) -> int:
    """Multiply-adds of one forward pass on one image, counted by PyTorch on a CPU copy."""
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    clone = copy.deepcopy(model).cpu().eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        clone(torch.zeros(1, *image_shape))
    return counter.get_total_flops() // 2


def _timed(time_fn, model, X, y, name):
    """Run the learner's timing function on ``model``; ``(seconds, None)`` or ``(None, why)``."""
    import math

    for p in model.parameters():
        p.grad = None
    out = check.run_safely(time_fn, model, X, y, timeout=120)
    if out.error:
        return None, f"time_forward_backward({name}, X, y) {out.error}"
    try:
        seconds = float(out.value)
    except Exception:  # noqa: BLE001 - None, a tensor of many numbers, ...
        return None, f"time_forward_backward({name}, X, y) returned {check.describe(out.value)}; expected seconds (a float)"
    if not math.isfinite(seconds) or seconds <= 0:
        return None, f"time_forward_backward({name}, X, y) returned {seconds!r}; expected a positive number of seconds"
    if all(p.grad is None for p in model.parameters()):
        return None, (f"after time_forward_backward({name}, X, y) no parameter has a gradient: "
                      f"the timed pass must include loss.backward()")
    return seconds, None


def check_wider_network(time_forward_backward, base, wide, device="cpu", batch_size: int = 64) -> float:
    """The blitz's "widen the network and see the speed-up", as a check.

    Args:
        time_forward_backward: the learner's ``fn(model, X, y) -> seconds`` for one forward and
            backward pass (cross-entropy) on the batch ``X, y``.
        base: the lesson's LeNet; ``wide``: the learner's widened one.
        device: where to time (the lesson's ``device``); ``batch_size``: images in the batch.

    Passes when ``wide`` maps (N, 1, 28, 28) to (N, 10), has at least as many channels as
    ``base`` in every conv layer and more in at least one, and the timing function returns
    positive seconds after a pass that leaves gradients. Prints both times next to the ratio of
    multiplications (counted by PyTorch); timings are never right or wrong, only reported.
    """
    name = "wider network"
    device = torch.device(device)
    if not callable(time_forward_backward):
        return check.report(name, 0, 1, 1.0, f"expected a timing function, got {check.describe(time_forward_backward)}")
    if not isinstance(wide, torch.nn.Module):
        return check.report(name, 0, 1, 1.0, f"wide should be a network (an nn.Module), got {check.describe(wide)}")
    narrow, widened = _conv_channels(base), _conv_channels(wide)
    if len(widened) != len(narrow):
        return check.report(name, 0, 1, 1.0, f"expected {len(narrow)} conv layers like LeNet, got {len(widened)}")
    if any(w < n for w, n in zip(widened, narrow)) or widened == narrow:
        return check.report(name, 0, 1, 1.0, f"conv output channels: expected more than LeNet's "
                                             f"{narrow} (none fewer), got {widened}")
    base, wide = base.to(device), wide.to(device)
    g = torch.Generator().manual_seed(4)
    X = torch.randn(batch_size, 1, 28, 28, generator=g).to(device)
    y = torch.randint(0, 10, (batch_size,), generator=g).to(device)
    out = check.run_safely(wide, X[:2])
    if out.error or not isinstance(out.value, torch.Tensor) or tuple(out.value.shape) != (2, 10):
        got = out.error or f"returned {check.describe(out.value)}"
        return check.report(name, 0, 1, 1.0, f"wide on a (2, 1, 28, 28) batch: expected shape (2, 10), {got}")
    times = {}
    for label, model in (("LeNet", base), ("wide", wide)):
        seconds, why = _timed(time_forward_backward, model, X, y, label)
        if why:
            return check.report(name, 0, 1, 1.0, why)
        times[label] = seconds
    mults = {label: _multiplications(m) for label, m in (("LeNet", base), ("wide", wide))}
    notes = [f"on {device}, batch of {batch_size}: LeNet {narrow} {times['LeNet'] * 1e3:.1f} ms, "
             f"wide {widened} {times['wide'] * 1e3:.1f} ms: {times['wide'] / times['LeNet']:.1f}x the "
             f"time for {mults['wide'] / mults['LeNet']:.1f}x the multiplications"]
    if device.type == "cpu":
        notes.append("this ran on the CPU. The blitz's 'see the speed-up' means a GPU: a narrow "
                     "net leaves most of its thousands of cores idle, so widening it adds much "
                     "less time than multiplications. Compare the two ratios above with those of "
                     "a run with DEVICE = \"cuda\" where there is a GPU.")
    return check.report(name, 1, 1, 1.0, notes=notes)
