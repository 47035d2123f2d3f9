"""Graded checks for assignment A6, convolution by hand in numpy (20 points by these checks).

=============  ==============================================  ======  ================================
check          learner's objects                               points  parts
=============  ==============================================  ======  ================================
conv_naive     ``conv_forward_naive(x, w, b, conv_param) ->    8       out 3, dx 2, dw 2, db 1
               out, cache``, ``conv_backward_naive(dout,
               cache) -> dx, dw, db``
max_pool       ``max_pool_forward_naive(x, pool_param) ->      5       forward 2, backward 3
               out, cache``, ``max_pool_backward_naive(dout,
               cache) -> dx``
conv_fast      ``conv_forward_fast``, ``conv_backward_fast``   7       forward 2, backward 2,
               (same signatures), and the naive pair (the              speed >= 10x 1, speed >= 20x 2
               speed is measured against it)
=============  ==============================================  ======  ================================

A6 also has three written answers graded by hand in the formgrader (7 points; their rubrics are
in the solution notebook), so the assignment is worth 27 points in all.

Shapes: ``x`` (N, C, H, W), ``w`` (F, C, HH, WW), ``b`` (F,), ``conv_param = {"stride": S,
"pad": P}`` (zero padding on all four sides) -> ``out`` (N, F, H', W') with ``H' = 1 + (H + 2P -
HH) // S`` (and W' alike); ``pool_param = {"pool_height", "pool_width", "stride"}`` (no
padding). ``dout`` has the shape of ``out``; each gradient the shape of its input. The cache stays
in the learner's kernel: the probe ``layer_pass`` runs the forward pass and hands its cache to the
backward pass there. Inputs are float64 arrays from fixed seeds; references are ``F.conv2d`` and
``F.max_pool2d`` and their autograd (hidden cases: 1x1 kernels, a kernel as large as the image,
stride 3, padding larger than the kernel's half, sizes the stride does not divide, N = 1, C = 1).

How the speed is measured (``conv_fast``)
-----------------------------------------
Only a right vectorised version is timed: forward plus backward on ``TIMING`` (x (4, 3, 16, 16),
w (8, 3, 3, 3), stride 1, pad 1), against the learner's own naive pair on the same inputs, in the
same kernel, so the machine's speed cancels out. The timing is trustworthy under the autograder:

* It is taken **here**, on the trusted side: the wall time of the probe's round trip
  (``layer_pass_timed``: random cases made in the kernel from a seed chosen here, each result sent
  back as a random projection that is checked against PyTorch, so nothing large crosses the line,
  no case repeats and a wrong answer earns nothing). Patching clocks in the kernel changes nothing.
* The round trip of an empty call (0 cases) is measured too and subtracted, but never more than a
  quarter of a timed call, so a kernel that slows down empty calls gains at most a factor 4/3.
* The vectorised version runs enough cases per call to take about ``FAST_TARGET`` seconds; each
  time is the median of ``ROUNDS`` calls, empty, naive and vectorised calls interleaved.
* With the hidden tests (when grading) the grader also times its own reference naive loop (from
  ``hidden_tests/a6.py``) in its own process, interleaved with the calls above (the fastest of its
  runs counts), and the naive time counts only within [1/2, 1] x that reference: slowing the naive
  version down (``time.sleep``) earns nothing, and a naive version that is already partly
  vectorised does not make the target harder. If the naive version fails, the reference alone is
  the baseline. In the student's notebook (no hidden tests) the naive time counts as it is; the
  output says so.

What the timing cannot tell: which code computed the answers (a kernel that calls a compiled
convolution, e.g. PyTorch's, is fast too; the manual review sees the code), and a submission that
keeps the machine's cores busy from the background while the grader times its reference loop
could raise the bound somewhat (it needs threads or processes; processes are flagged for review).

The speed-up is ``baseline / vectorised time``; 10x earns 1 point, 20x 2 more. The whole check
takes a few seconds: six runs of a naive loop of this size (three of the learner's, three of the
reference), about ``ROUNDS * FAST_TARGET`` seconds of vectorised runs, and the small cases.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from course.grading import core
from course.grading.core import Question, graded, invoke, shapes

__all__ = ["conv_naive", "max_pool", "conv_fast"]

ATOL, RTOL = 1e-6, 1e-4   # forgiving enough for float32 arithmetic, far below any real bug

# (seed, N, C, H, W, F, HH, WW, stride, pad); the second and third: non-square kernel, stride 2,
# a width the stride does not divide, padding 2
CONV_VISIBLE = [(0, 2, 3, 7, 7, 4, 3, 3, 1, 1), (1, 3, 2, 9, 7, 5, 3, 2, 2, 0), (2, 2, 3, 8, 6, 3, 4, 4, 2, 2)]
# (seed, N, C, H, W, pool_height, pool_width, stride); overlapping windows in the last two
POOL_VISIBLE = [(0, 2, 3, 8, 8, 2, 2, 2), (1, 2, 2, 7, 9, 3, 3, 2), (2, 1, 3, 6, 5, 2, 3, 1)]

# the timed size: x, w, b shapes, conv_param, and the shape of out
TIMING = {"shapes": [(4, 3, 16, 16), (8, 3, 3, 3), (8,)], "conv_param": {"stride": 1, "pad": 1},
          "out": (4, 8, 16, 16)}
SPEEDUPS = {"speed >= 10x": 10.0, "speed >= 20x": 20.0}
FAST_TARGET = 0.1      # seconds of vectorised work per timed call
MAX_REPEATS = 100      # cases per timed call at most
CALIBRATION = 5        # cases of the call that measures how many cases make FAST_TARGET
ROUNDS = 3             # timed calls of each kind (the median counts)
TIMING_LIMIT = 10.0    # seconds one timed call may take
OVERHEAD_SHARE = 0.25  # the empty round trip subtracted is at most this share of a timed call
SLOW_NAIVE = 2.0       # a naive call slower than this is timed once, not ROUNDS times


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(6000 + seed)


def _t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


# --------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------
def _conv_reference(x, w, b, conv_param, dout=None) -> dict:
    """``F.conv2d`` and, with ``dout``, its gradients: {"out", "dx", "dw", "db"} as numpy arrays."""
    tx, tw, tb = _t(x, True), _t(w, True), _t(b, True)
    out = F.conv2d(tx, tw, tb, stride=conv_param["stride"], padding=conv_param["pad"])
    ref = {"out": out.detach().numpy()}
    if dout is not None:
        (out * _t(dout)).sum().backward()   # sum(out * dout): its gradient is the VJP
        ref.update(dx=tx.grad.numpy(), dw=tw.grad.numpy(), db=tb.grad.numpy())
    return ref


def _conv_case(seed: int, N: int, C: int, H: int, W: int, Fn: int, HH: int, WW: int, stride: int, pad: int):
    rng = _rng(seed)
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((Fn, C, HH, WW)), rng.standard_normal(Fn)
    conv_param = {"stride": stride, "pad": pad}
    out_shape = _conv_reference(x, w, b, conv_param)["out"].shape
    dout = rng.standard_normal(out_shape)
    return (x, w, b, conv_param), dout, _conv_reference(x, w, b, conv_param, dout)


def _layer(q: Question, forward, backward, args: list, dout, ref: dict, out_part: str,
           grad_parts: dict, label: str) -> None:
    """Run ``forward``/``backward`` through the probe ``layer_pass``; record ``out_part`` and each
    gradient part (``grad_parts``: reference key -> part). ``ref["grads"]`` names their order."""
    ok, value = q.run("layer_pass", forward, backward, args, dout, label=label)
    if not ok:
        return
    if not isinstance(value, dict) or "out" not in value:   # cannot happen with the course's probe
        q.fail(q.parts, f"{label}: the probe's answer could not be read")
        return
    q.compare(out_part, value["out"], ref["out"], label, ATOL, RTOL, "out")
    parts = sorted(set(grad_parts.values()), key=list(grad_parts.values()).index)
    if "backward_error" in value:
        q.fail(parts, f"{label}: your backward pass {value['backward_error']}")
        return
    names = list(grad_parts)
    grads = value.get("grads")
    if len(names) == 1:
        grads = [grads]
    elif not isinstance(grads, (tuple, list)) or len(grads) != len(names):
        from course import check

        q.fail(parts, f"{label}: the backward pass should return a tuple ({', '.join(names)}), "
                      f"got {check.describe(grads)}")
        return
    for name, got in zip(names, grads):
        q.compare(grad_parts[name], got, ref[name], label, ATOL, RTOL, name)


# --------------------------------------------------------------------------------------------
# Q1: the naive convolution
# --------------------------------------------------------------------------------------------
@graded
def conv_naive(forward, backward, points: float = 8, hidden: bool = False) -> float:
    """Check ``conv_forward_naive(x, w, b, conv_param) -> (out, cache)`` and
    ``conv_backward_naive(dout, cache) -> (dx, dw, db)`` against ``F.conv2d`` and its autograd.

    x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param {"stride", "pad"} -> out (N, F, H', W').
    Parts: out 3/8, dx 2/8, dw 2/8, db 1/8 of the points. A forward pass that fails costs the
    backward parts too (the backward pass needs its cache).
    """
    q = Question("conv_naive", {"out": 3, "dx": 2, "dw": 2, "db": 1}, points, hidden)
    for label, case in q.cases(CONV_VISIBLE, "a6.CONV"):
        args, dout, ref = _conv_case(*case)
        x, w, _, conv_param = args
        label = f"{label} ({shapes(x=x, w=w, stride=conv_param['stride'], pad=conv_param['pad'])})"
        _layer(q, forward, backward, list(args), dout, ref, "out", {"dx": "dx", "dw": "dw", "db": "db"}, label)
    return q.result()


# --------------------------------------------------------------------------------------------
# Q2: max pooling
# --------------------------------------------------------------------------------------------
@graded
def max_pool(forward, backward, points: float = 5, hidden: bool = False) -> float:
    """Check ``max_pool_forward_naive(x, pool_param) -> (out, cache)`` and
    ``max_pool_backward_naive(dout, cache) -> dx`` against ``F.max_pool2d`` and its autograd.

    x (N, C, H, W), pool_param {"pool_height", "pool_width", "stride"} -> out (N, C, H', W'),
    H' = 1 + (H - pool_height) // stride. The inputs have no ties, so each window's gradient goes
    to one element; where windows overlap, an element collects the gradients of every window it
    is the maximum of. Parts: forward 2/5, backward 3/5.
    """
    q = Question("max_pool", {"forward": 2, "backward": 3}, points, hidden)
    for label, (seed, N, C, H, W, ph, pw, stride) in q.cases(POOL_VISIBLE, "a6.POOL"):
        rng = _rng(seed)
        x = rng.standard_normal((N, C, H, W))
        tx = _t(x, True)
        out = F.max_pool2d(tx, (ph, pw), stride=stride)
        dout = rng.standard_normal(tuple(out.shape))
        (out * _t(dout)).sum().backward()
        pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
        ref = {"out": out.detach().numpy(), "dx": tx.grad.numpy()}
        label = f"{label} ({shapes(x=x)}, pool {ph}x{pw}, stride={stride})"
        _layer(q, forward, backward, [x, pool_param], dout, ref, "forward", {"dx": "backward"}, label)
    return q.result()


# --------------------------------------------------------------------------------------------
# Q3: the vectorised convolution, right and fast
# --------------------------------------------------------------------------------------------
def expected_digests(seed: int, repeats: int) -> list[list]:
    """What ``probes.layer_pass_timed`` must return for the convolution at the ``TIMING`` size:
    ``[[shape, digest, scale], ...]`` per case, for out, dx, dw, db (``scale``: the sum of the
    absolute products, for the tolerance). Drawn in exactly the probe's order."""
    rng = np.random.default_rng(seed)
    weights: dict = {}
    rows = []
    for _ in range(repeats):
        x, w, b = [rng.uniform(-1.0, 1.0, s) for s in TIMING["shapes"]]
        dout = rng.uniform(-1.0, 1.0, TIMING["out"])
        ref = _conv_reference(x, w, b, TIMING["conv_param"], dout)
        row = []
        for k, name in enumerate(("out", "dx", "dw", "db")):
            value = ref[name]
            key = (k, value.shape)
            if key not in weights:
                weights[key] = rng.uniform(-1.0, 1.0, value.shape)
            products = value * weights[key]
            row.append([list(value.shape), float(products.sum()), float(np.abs(products).sum())])
        rows.append(row)
    return rows


def _digest_problem(got, seed: int, repeats: int) -> str | None:
    """None when the timed call's digests are the convolution's, else what is wrong."""
    expected = expected_digests(seed, repeats)
    if not isinstance(got, list) or len(got) != len(expected):
        return "the timed call did not return one result per case"
    names = ("out", "dx", "dw", "db")
    for i, (row, ref) in enumerate(zip(got, expected)):
        if not isinstance(row, list) or len(row) != len(ref):
            return f"timed case {i + 1}: expected 4 results (out and dx, dw, db)"
        for name, item, (shape, digest, scale) in zip(names, row, ref):
            try:
                got_shape, got_digest = [int(s) for s in item[0]], float(item[1])
            except Exception:  # noqa: BLE001 - not the probe's format
                return f"timed case {i + 1}: {name} could not be read"
            if got_shape != shape:
                return f"timed case {i + 1}: {name} has shape {tuple(got_shape)}, expected {tuple(shape)}"
            if not abs(got_digest - digest) <= 1e-6 + 1e-6 * scale:
                return f"timed case {i + 1}: {name} is wrong (a random projection of it differs)"
    return None


class _Timer:
    """Round trips of ``layer_pass_timed`` and the reference loop, timed here (trusted side)."""

    def __init__(self):
        self.seed = 7000

    def trip(self, forward, backward, repeats: int) -> tuple[float, object, int]:
        self.seed += 1
        args = (backward, self.seed, TIMING["shapes"], [TIMING["conv_param"]], TIMING["out"], repeats)
        start = time.perf_counter()
        outcome = invoke(forward, "layer_pass_timed", args, {}, max(core.TIMEOUT, TIMING_LIMIT))
        return time.perf_counter() - start, outcome, self.seed

    @staticmethod
    def reference(loop) -> float:
        rng = np.random.default_rng(0)
        x, w, b = [rng.uniform(-1.0, 1.0, s) for s in TIMING["shapes"]]
        dout = rng.uniform(-1.0, 1.0, TIMING["out"])
        start = time.perf_counter()
        loop(x, w, b, dict(TIMING["conv_param"]), dout)
        return time.perf_counter() - start


def _failed(outcome) -> str:
    if outcome.kind == "not_implemented":
        return "is not implemented yet"
    return (outcome.error or "failed").split(" Hint: ")[0][:200]


def _speed(q: Question, forward, backward, naive_forward, naive_backward) -> str:
    """Time the vectorised pair against the naive one (see the module docstring); record the
    speed parts and return the line that reports the measurement."""
    speed_parts = list(SPEEDUPS)
    timer = _Timer()
    reference = q.hidden_value("a6.reference_conv_naive")
    size = (f"x {TIMING['shapes'][0]}, w {TIMING['shapes'][1]}, stride {TIMING['conv_param']['stride']}, "
            f"pad {TIMING['conv_param']['pad']}")

    timer.trip(forward, backward, 0)                               # warm the line up
    empty = [timer.trip(forward, backward, 0)[0]]
    repeats = 1
    for calibrating in (1, CALIBRATION):                           # warm-up, then calibration
        seconds, outcome, seed = timer.trip(forward, backward, calibrating)
        why = _failed(outcome) if outcome.kind != "ok" else _digest_problem(outcome.value, seed, calibrating)
        if why:
            q.fail(speed_parts, f"timing ({size}): your vectorised version {why}")
            return ""
        per_case = max(seconds - empty[0], 1e-6) / calibrating
        repeats = int(min(MAX_REPEATS, max(1, FAST_TARGET // per_case)))
        if per_case * CALIBRATION > FAST_TARGET:                   # slow: no second calibration call
            break

    fast, naive, refs, naive_error = [], [], [], None
    for _ in range(ROUNDS):
        empty.append(timer.trip(forward, backward, 0)[0])
        if naive_error is None and not (naive and naive[0] > SLOW_NAIVE):
            seconds, outcome, _ = timer.trip(naive_forward, naive_backward, 1)
            if outcome.kind == "ok":
                naive.append(seconds)
            else:
                naive_error = _failed(outcome)
        seconds, outcome, seed = timer.trip(forward, backward, repeats)
        why = _failed(outcome) if outcome.kind != "ok" else _digest_problem(outcome.value, seed, repeats)
        if why:
            q.fail(speed_parts, f"timing ({size}): your vectorised version {why}")
            return ""
        fast.append(seconds)
        if reference is not None:
            refs.append(_Timer.reference(reference))

    overhead = statistics.median(empty)
    fast_raw = statistics.median(fast)
    t_fast = max(fast_raw - min(overhead, OVERHEAD_SHARE * fast_raw), 1e-9) / repeats
    t_ref = min(refs) if refs else None
    if naive:
        naive_raw = statistics.median(naive)
        t_naive = naive_raw - min(overhead, OVERHEAD_SHARE * naive_raw)
    else:
        t_naive = None
    if t_naive is None and t_ref is None:
        q.fail(speed_parts, f"timing ({size}): your naive version {naive_error}, so there is nothing to "
                            f"compare the vectorised one with (when grading, the grader's own naive loop is "
                            f"the baseline)")
        return ""
    if t_ref is not None:
        baseline = t_ref if t_naive is None else min(max(t_naive, t_ref / 2), t_ref)
        naive_text = (f"your naive version {naive_error}; the grader's reference loop {_ms(t_ref)} counts"
                      if t_naive is None else
                      f"naive {_ms(t_naive)}, the grader's reference loop {_ms(t_ref)}: counted {_ms(baseline)}")
    else:
        baseline = t_naive
        naive_text = (f"naive {_ms(t_naive)} (when grading, it counts only within 1/2 to 1 times the grader's "
                      f"own reference loop)")
    speedup = baseline / t_fast
    for part, factor in SPEEDUPS.items():
        q.record(part, speedup >= factor,
                 f"timing ({size}): {speedup:.1f}x faster than the naive version; {factor:g}x needed")
    return (f"  speed ({size}, forward + backward, median of {ROUNDS}): vectorised {_ms(t_fast)} "
            f"({repeats} cases per call), {naive_text}: {speedup:.0f}x faster")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


@graded
def conv_fast(forward, backward, naive_forward, naive_backward, points: float = 7,
              hidden: bool = False) -> float:
    """Check ``conv_forward_fast`` / ``conv_backward_fast`` (the signatures of the naive pair):
    right on every case of ``conv_naive`` (forward 2/7, backward = dx, dw and db 2/7), and
    faster than the learner's naive pair ``naive_forward`` / ``naive_backward`` on the ``TIMING``
    size: 10x for 1/7, 20x for 2/7 more. Only a right vectorised version is timed; see the module
    docstring for how the timing is made trustworthy.
    """
    q = Question("conv_fast", {"forward": 2, "backward": 2, "speed >= 10x": 1, "speed >= 20x": 2}, points, hidden)
    for label, case in q.cases(CONV_VISIBLE, "a6.CONV"):
        args, dout, ref = _conv_case(*case)
        x, w, _, conv_param = args
        label = f"{label} ({shapes(x=x, w=w, stride=conv_param['stride'], pad=conv_param['pad'])})"
        _layer(q, forward, backward, list(args), dout, ref, "forward",
               {"dx": "backward", "dw": "backward", "db": "backward"}, label)
    line = ""
    if any(q.parts[p].failed or not q.parts[p].passed for p in ("forward", "backward")):
        q.fail(list(SPEEDUPS), "not timed: the vectorised version must give the right results first")
    else:
        line = _speed(q, forward, backward, naive_forward, naive_backward)
    earned = q.result()
    if line:
        print(line)
    return earned
