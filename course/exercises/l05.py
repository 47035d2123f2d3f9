"""Checks for lesson 05, static vs dynamic graphs. ``torch.fx`` itself is the oracle.

Every check prints one line (correct, or what was expected and what came out), returns the
points earned and never raises.

===========================  ==================================================================
check                        the learner writes
===========================  ==================================================================
``check_traceable``          a dict ``name -> True/False``: can ``torch.fx.symbolic_trace``
                             capture each of the functions in ``TRACE_QUIZ``?
``check_branch_free``        ``f(x)``: ``x * 2`` if ``x.sum() > 0`` else ``x - 1``, written
                             without Python control flow so that ``symbolic_trace`` works
``check_swap_activation``    ``swap_activation(gm)``: a ``torch.fx`` pass that turns every
                             ``torch.relu`` call into ``torch.tanh``
===========================  ==================================================================
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.fx

from course import check


# ---------------------------------------------------------------------------------------------
# Exercise 1: which functions can symbolic tracing capture?
# ---------------------------------------------------------------------------------------------
def scale_and_shift(x):
    """Arithmetic only."""
    return 3 * x + 1


def repeat_three_times(x):
    """A Python loop with a fixed number of steps."""
    for _ in range(3):
        x = torch.tanh(x) + x
    return x


def halve_if_large(x):
    """An `if` on a tensor's values."""
    if x.abs().max() > 1:
        x = x / 2
    return x


def one_step_per_row(x):
    """A loop whose length is the number of rows of x."""
    total = torch.zeros_like(x[0])
    for i in range(x.shape[0]):
        total = total + x[i]
    return total


def relu_then_sum(x):
    """torch operations and a method call."""
    return torch.relu(x).sum(dim=-1)


TRACE_QUIZ = {f.__name__: f for f in (scale_and_shift, repeat_three_times, halve_if_large,
                                      one_step_per_row, relu_then_sum)}


def _traceable(fn) -> bool:
    try:
        torch.fx.symbolic_trace(fn)
        return True
    except Exception:  # noqa: BLE001 - any failure means "cannot be captured"
        return False


def check_traceable(answers, points: float = 1.0) -> float:
    """Compare the learner's predictions ``{name: bool}`` with what ``symbolic_trace`` does.

    Inputs: ``answers``, a dict with one entry per function name in ``TRACE_QUIZ``, each True
    (symbolic_trace captures it) or False (it raises). Prints the first wrong prediction with
    the reason the tracer gives.
    """
    name = "traceable"
    if not isinstance(answers, dict):
        return check.report(name, 0, 1, points, f"expected a dict name -> True/False, got "
                                                f"{check.describe(answers)}")
    passed, problem = 0, None
    for fname, fn in TRACE_QUIZ.items():
        truth = _traceable(fn)
        got = answers.get(fname, "<missing>")
        if isinstance(got, (bool, np.bool_)) and bool(got) == truth:
            passed += 1
        elif problem is None:
            why = ""
            if not truth:
                try:
                    torch.fx.symbolic_trace(fn)
                except Exception as err:  # noqa: BLE001
                    first = str(err).splitlines()[0][:90]
                    why = f" (the tracer says: {type(err).__name__}: {first})"
            problem = f"{fname}: expected {truth}, got {got!r}{why}"
    if problem:  # a quiz: all predictions right, or no points
        problem = f"{passed} of {len(TRACE_QUIZ)} right; first wrong one: {problem}"
    return check.report(name, int(problem is None), 1, points, problem)


# ---------------------------------------------------------------------------------------------
# Exercise 2: the same function without Python control flow
# ---------------------------------------------------------------------------------------------
def double_or_decrement(x):
    """The reference with Python control flow: x * 2 if x.sum() > 0, else x - 1."""
    if x.sum() > 0:
        return x * 2
    return x - 1


def _inputs():
    g = torch.Generator().manual_seed(50)
    base = torch.randn(4, 3, generator=g)
    mixed = torch.tensor([[1.5, -0.5], [0.3, -0.2]])          # some entries negative, sum > 0
    return [base.abs() + 0.1, -base.abs() - 0.1, torch.randn(6, generator=g).abs(), mixed,
            -mixed]


def check_branch_free(fn: Callable, points: float = 1.0) -> float:
    """Check ``fn(x)`` against ``double_or_decrement`` and that ``symbolic_trace(fn)`` works.

    Inputs ``x`` are float32 tensors of shapes (4, 3), (6,) and (2, 2) with positive and with
    negative sums (some with entries of both signs); the traced graph must get all of them right.
    """
    name = "branch-free double_or_decrement"
    if not callable(fn):
        return check.report(name, 0, 1, points, f"expected a function, got {check.describe(fn)}")
    for i, x in enumerate(_inputs()):
        out = check.run_safely(fn, x.clone())
        why = out.error or check.compare(out.value, double_or_decrement(x))
        if why:
            sign = "positive" if x.sum() > 0 else "negative"
            return check.report(name, 0, 1, points,
                                f"eager, input {i + 1} ({check.describe(x)}, {sign} sum): {why}")
    traced = check.run_safely(torch.fx.symbolic_trace, fn)
    if traced.error:
        reason = traced.error.splitlines()[0][:160]
        return check.report(name, 0, 1, points, "expected symbolic_trace(fn) to succeed, but it "
                            f"{reason}; replace the `if` with torch.where")
    for i, x in enumerate(_inputs()):
        out = check.run_safely(traced.value, x.clone())
        why = out.error or check.compare(out.value, double_or_decrement(x))
        if why:
            return check.report(name, 0, 1, points, f"traced graph, input {i + 1}: {why} (the "
                                "trace baked in one branch)")
    return check.report(name, 1, 1, points)


# ---------------------------------------------------------------------------------------------
# Exercise 3: a graph pass
# ---------------------------------------------------------------------------------------------
class ReluNet(torch.nn.Module):
    """Linear(8, 16) -> act -> Linear(16, 16) -> act -> Linear(16, 4), act = torch.relu by default.

    The weights are the same for every instance (seeded privately; the global RNG is untouched),
    and ``forward`` calls the activation function directly, so it shows up in a traced graph.
    """

    def __init__(self, activation=torch.relu):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(51)
            self.fc1, self.fc2, self.fc3 = (torch.nn.Linear(8, 16), torch.nn.Linear(16, 16),
                                            torch.nn.Linear(16, 4))
        self.activation = activation

    def forward(self, x):
        x = self.activation(self.fc1(x))
        x = self.activation(self.fc2(x))
        return self.fc3(x)


def relu_graph() -> torch.fx.GraphModule:
    """The traced ReluNet: a GraphModule with two call_function nodes targeting torch.relu."""
    return torch.fx.symbolic_trace(ReluNet())


def check_swap_activation(swap_activation: Callable, points: float = 1.0) -> float:
    """Check ``swap_activation(gm) -> gm`` on a traced 3-layer net with two ``torch.relu`` calls.

    The returned GraphModule must compute the same net with ``torch.tanh``; inputs are (5, 8)
    float32 tensors, outputs (5, 4). The oracle is the eager net built with ``torch.tanh``.
    """
    name = "swap_activation"
    if not callable(swap_activation):
        return check.report(name, 0, 1, points,
                            f"expected a function, got {check.describe(swap_activation)}")
    gm = relu_graph()
    out = check.run_safely(swap_activation, gm)
    if out.error:
        return check.report(name, 0, 1, points, f"swap_activation(gm) {out.error}")
    result = out.value if out.value is not None else gm
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(52))
    run = check.run_safely(result, x)
    if run.error:
        return check.report(name, 0, 1, points, f"running the returned module {run.error}")
    with torch.no_grad():
        expected = ReluNet(activation=torch.tanh)(x)
    why = check.compare(run.value, expected, atol=1e-6, rtol=1e-5)
    if why:
        graph = getattr(result, "graph", None)
        targets = [n.target for n in graph.nodes] if graph is not None else []
        hint = ""
        if torch.tanh in targets and "tanh" not in getattr(result, "code", ""):
            hint = " (the graph has tanh nodes but the code does not: call gm.recompile())"
        elif torch.relu in targets:
            hint = " (the graph still calls torch.relu)"
        return check.report(name, 0, 1, points, why + hint)
    return check.report(name, 1, 1, points)
