"""Lesson 05's exercise checks: a correct answer passes, a wrong one and the shipped stub fail
with an expected-vs-got message, and nothing raises."""
from __future__ import annotations

import torch

from course.exercises import l05

PASS, FAIL = "\u2714", "\u2718"


# ----- exercise 1: which functions can symbolic_trace capture? ---------------------------------
RIGHT = {"scale_and_shift": True, "repeat_three_times": True, "halve_if_large": False,
         "one_step_per_row": False, "relu_then_sum": True}


def test_traceable_correct(capsys):
    assert l05.check_traceable(RIGHT) == 1.0
    assert PASS in capsys.readouterr().out


def test_traceable_wrong_names_the_function_and_the_tracer_reason(capsys):
    wrong = dict(RIGHT, one_step_per_row=True)
    assert l05.check_traceable(wrong) == 0
    out = capsys.readouterr().out
    assert FAIL in out and "one_step_per_row: expected False, got True" in out
    assert "the tracer says" in out


def test_traceable_stub_and_garbage(capsys):
    stub = {name: None for name in l05.TRACE_QUIZ}
    assert l05.check_traceable(stub) == 0
    assert l05.check_traceable("yes") == 0
    assert l05.check_traceable({}) == 0
    out = capsys.readouterr().out
    assert out.count(FAIL) == 3 and "got None" in out and "got '<missing>'" in out


# ----- exercise 2: branch-free --------------------------------------------------------------
def branch_free(x):
    return torch.where(x.sum() > 0, x * 2, x - 1)


def branch_free_wrong(x):
    return torch.where(x > 0, x * 2, x - 1)  # decides per entry, not on the sum


def test_branch_free_correct(capsys):
    assert l05.check_branch_free(branch_free) == 1.0
    assert PASS in capsys.readouterr().out


def test_branch_free_wrong_values(capsys):
    assert l05.check_branch_free(branch_free_wrong) == 0
    out = capsys.readouterr().out
    assert FAIL in out and "expected" in out and "got" in out


def test_branch_free_stub_is_the_python_version(capsys):
    # the notebook ships the original function with an `if`: right values, but not traceable
    assert l05.check_branch_free(l05.double_or_decrement) == 0
    out = capsys.readouterr().out
    assert FAIL in out and "expected symbolic_trace(fn) to succeed" in out and "TraceError" in out


def test_branch_free_none(capsys):
    assert l05.check_branch_free(lambda x: None) == 0
    assert "got None" in capsys.readouterr().out


# ----- exercise 3: swap_activation ----------------------------------------------------------
def swap_activation(gm):
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target is torch.relu:
            node.target = torch.tanh
    gm.recompile()
    return gm


def swap_without_recompile(gm):
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target is torch.relu:
            node.target = torch.tanh
    return gm


def swap_stub(gm):
    # YOUR CODE HERE
    return gm


def test_swap_correct(capsys):
    assert l05.check_swap_activation(swap_activation) == 1.0
    assert PASS in capsys.readouterr().out


def test_swap_forgets_recompile(capsys):
    assert l05.check_swap_activation(swap_without_recompile) == 0
    out = capsys.readouterr().out
    assert FAIL in out and "expected" in out and "got" in out and "recompile" in out


def test_swap_stub(capsys):
    assert l05.check_swap_activation(swap_stub) == 0
    out = capsys.readouterr().out
    assert FAIL in out and "expected" in out and "still calls torch.relu" in out


def test_relu_net_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    l05.ReluNet()
    assert torch.equal(torch.rand(3), expected)
