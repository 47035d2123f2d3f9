"""The checks of A6 (convolution by hand), in-process, on right and wrong implementations.

The notebook-level tests (solution full marks, released 0, ``WRONG_SUBMISSIONS`` exact scores)
are in ``tests/test_grading_checks.py`` and, through nbgrader, ``tests/test_grading_workflow.py``.
Here: the parts of each check, the probe that keeps a layer's cache beside the learner's code,
a second learner object reaching the kernel by name, and the speed check's defences (results at
the timed size are verified; the timing is taken on the trusted side).
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from course import grading
from course.autograde import remote
from course.grading import a6
from course.paths import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from test_grading_checks import _solution_namespace, one_torch_thread  # noqa: E402,F401 - autouse fixture

A6 = "A6_convolution"


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution's setup and answer cells, executed."""
    return _solution_namespace(A6)


def test_solution_layers_get_full_marks_with_hidden_cases(sol, capsys):
    assert grading.a6.conv_naive(sol["conv_forward_naive"], sol["conv_backward_naive"], hidden=True) == 8.0
    assert grading.a6.max_pool(sol["max_pool_forward_naive"], sol["max_pool_backward_naive"], hidden=True) == 5.0
    out = capsys.readouterr().out
    assert "6 hidden cases" in out and "5 hidden cases" in out


def test_backward_failing_keeps_the_forward_points(sol, capsys):
    def backward(dout, cache):
        raise ValueError("shapes do not match")

    def not_yet(dout, cache):
        raise NotImplementedError

    assert grading.a6.conv_naive(sol["conv_forward_naive"], backward) == 3.0
    assert "your backward pass raised ValueError: shapes do not match" in capsys.readouterr().out
    assert grading.a6.max_pool(sol["max_pool_forward_naive"], not_yet) == 2.0
    assert "your backward pass is not implemented yet" in capsys.readouterr().out


def test_parts_of_the_naive_convolution(sol, capsys):
    forward, backward = sol["conv_forward_naive"], sol["conv_backward_naive"]

    def no_db(dout, cache):
        dx, dw, db = backward(dout, cache)
        return dx, dw, np.zeros_like(db)

    def two_results(dout, cache):
        return backward(dout, cache)[:2]

    assert grading.a6.conv_naive(forward, no_db) == 7.0
    assert "✘ db [1 pt]" in capsys.readouterr().out
    assert grading.a6.conv_naive(forward, two_results) == 3.0
    assert "should return a tuple (dx, dw, db)" in capsys.readouterr().out
    assert grading.a6.conv_naive(lambda x, w, b, p: forward(x, w, b, p)[0], backward) == 0.0
    assert "must return a tuple (out, cache)" in capsys.readouterr().out


def test_the_cache_need_not_be_plain_data(sol):
    """The cache never leaves the learner's side: a closure in it is fine."""
    forward, backward = sol["conv_forward_naive"], sol["conv_backward_naive"]

    def forward_closure(x, w, b, conv_param):
        out, cache = forward(x, w, b, conv_param)
        return out, (lambda: cache)

    assert grading.a6.conv_naive(forward_closure, lambda dout, cache: backward(dout, cache())) == 8.0


def test_overlapping_pool_windows_must_add_up(sol, capsys):
    forward = sol["max_pool_forward_naive"]

    def assigns(dout, cache):          # dx[...] = instead of +=: wrong where windows overlap
        x, p = cache
        ph, pw, s = p["pool_height"], p["pool_width"], p["stride"]
        dx = np.zeros_like(x)
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                for i in range(dout.shape[2]):
                    for j in range(dout.shape[3]):
                        window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                        r, q = np.unravel_index(np.argmax(window), window.shape)
                        dx[n, c, i * s + r, j * s + q] = dout[n, c, i, j]
        return dx

    assert grading.a6.max_pool(forward, assigns) == 2.0
    assert "case 2" in capsys.readouterr().out   # case 1 has no overlap and passes


def test_expected_digests_match_the_probe(sol):
    """The check's replay of ``layer_pass_timed`` draws exactly what the probe draws."""
    from course.grading.probes import layer_pass_timed

    got = layer_pass_timed(sol["conv_forward_fast"], sol["conv_backward_fast"], 5, a6.TIMING["shapes"],
                           [a6.TIMING["conv_param"]], a6.TIMING["out"], 3)
    assert a6._digest_problem(got, 5, 3) is None
    assert a6._digest_problem(got, 6, 3) is not None          # another seed: other inputs
    got[2][1][1] += 0.1                                        # dx of case 3, off by a bit
    assert "timed case 3: dx is wrong" in a6._digest_problem(got, 5, 3)


@pytest.mark.slow   # times the convolution (a few seconds)
def test_solution_is_fast_and_the_report_says_how_fast(sol, capsys):
    args = [sol[k] for k in ("conv_forward_fast", "conv_backward_fast", "conv_forward_naive", "conv_backward_naive")]
    assert grading.a6.conv_fast(*args, hidden=True) == 7.0
    out = capsys.readouterr().out
    assert "the grader's reference loop" in out and "x faster" in out, out


@pytest.mark.slow   # times the convolution (a few seconds)
def test_wrong_results_at_the_timed_size_earn_no_speed_points(sol, capsys):
    """Right on the small cases, zeros (fast) at the size the speed test times: 4 of 7 points."""
    forward, backward = sol["conv_forward_fast"], sol["conv_backward_fast"]

    def cheap_forward(x, w, b, conv_param):
        if x.shape == a6.TIMING["shapes"][0]:
            return np.zeros(a6.TIMING["out"]), None
        return forward(x, w, b, conv_param)

    def cheap_backward(dout, cache):
        if cache is None:
            return np.zeros(a6.TIMING["shapes"][0]), np.zeros(a6.TIMING["shapes"][1]), np.zeros(8)
        return backward(dout, cache)

    assert grading.a6.conv_fast(cheap_forward, cheap_backward, sol["conv_forward_naive"],
                                sol["conv_backward_naive"]) == 4.0
    assert "out is wrong (a random projection of it differs)" in capsys.readouterr().out


def test_speed_is_not_timed_when_the_results_are_wrong(sol, capsys):
    forward = sol["conv_forward_fast"]
    start = time.perf_counter()
    assert grading.a6.conv_fast(forward, lambda dout, cache: (0, 0, 0), sol["conv_forward_naive"],
                                sol["conv_backward_naive"]) == 2.0
    assert time.perf_counter() - start < 5
    assert "not timed: the vectorised version must give the right results first" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Through the trusted grader's proxies: a second learner object reaches the kernel by name
# --------------------------------------------------------------------------------------------
class FakeKernel:
    """Stands in for nbclient's executor: runs the grader's silent requests in ``namespace``
    (what the student's kernel does with them), so ``remote.KernelSession`` runs as in grading."""

    timeout = 60

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.kc = self
        self.requests: list[str] = []

    def execute(self, code, **kwargs):
        self.requests.append(code)
        exec(code, self.namespace)
        return "msg-id"

    def wait_for_reply(self, msg_id):
        return {"content": {"status": "ok"}}

    def responsive(self) -> bool:
        return True


def test_remote_layer_pair_reaches_both_learner_objects(sol, tmp_path, capsys):
    session = remote.KernelSession(FakeKernel(dict(sol)), tmp_path)
    forward, backward = remote.Remote(session, "conv_forward_naive"), remote.Remote(session, "conv_backward_naive")
    assert grading.a6.conv_naive(forward, backward) == 8.0
    assert session.calls == len(a6.CONV_VISIBLE)
    missing = remote.Remote(session, "conv_backward_typo")
    assert grading.a6.conv_naive(forward, missing) == 0.0
    assert "is not defined (run the cell that defines conv_backward_typo)" in capsys.readouterr().out


@pytest.mark.slow   # times the convolution (a few seconds)
def test_remote_speed_check_gives_full_marks(sol, tmp_path, capsys):
    session = remote.KernelSession(FakeKernel(dict(sol)), tmp_path)
    args = [remote.Remote(session, k) for k in ("conv_forward_fast", "conv_backward_fast", "conv_forward_naive",
                                                 "conv_backward_naive")]
    assert grading.a6.conv_fast(*args, hidden=True) == 7.0
    assert "x faster" in capsys.readouterr().out


def test_remote_single_learner_objects_still_work(tmp_path):
    """The probes of A1-A4 take one learner object each: unchanged by the second-object route."""
    ns = {"relu_forward": lambda x: np.maximum(x, 0), "relu_backward": lambda dout, x: dout * (x > 0)}
    session = remote.KernelSession(FakeKernel(ns), tmp_path)
    assert grading.a1.relu(remote.Remote(session, "relu_forward"), remote.Remote(session, "relu_backward")) == 3.0
