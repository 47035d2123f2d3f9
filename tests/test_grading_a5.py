"""The checks of A5 (``course.grading.a5``) in-process, on right and wrong implementations.

``tests/test_grading_checks.py`` grades the solution notebook, its released stubs and the wrong
submissions of ``WRONG_SUBMISSIONS`` (edits of the solution); this file adds what edits of the
solution cannot show: other correct ways to write a layer (another random generator, another
cache) earn full marks, a wrong piece costs exactly its part, and the optimizer checks judge
each step from the learner's own iterate, so even a chaotic run is graded reliably.
"""
from __future__ import annotations

import numpy as np
import pytest

from course import grading
from course.grading import a5, probes

from test_grading_checks import _solution_namespace

A5 = "A5_norm_regularisation"


@pytest.fixture(scope="module")
def sol() -> dict:
    """The solution notebook's given layers and answers."""
    return _solution_namespace(A5)


@pytest.fixture(autouse=True)
def hidden_tests(monkeypatch):
    """Hidden cases included, as when grading."""
    from course.grading import hidden
    from course.paths import ROOT

    hidden.use(ROOT / "hidden_tests")
    yield
    hidden.use(None)


def _score(check, *fns, capsys=None):
    score = check(*fns, hidden=True)
    out = capsys.readouterr().out if capsys else ""
    return score, out


# --------------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------------
def test_dropout_with_another_generator_and_cache_earns_full_marks(capsys):
    def forward(x, p, mode="train", seed=None):
        if mode == "test":
            return x.copy(), {"mode": "test"}
        keep = np.random.RandomState(seed).uniform(size=x.shape) > p     # legacy generator, bool mask
        return np.where(keep, x / (1 - p), 0.0), {"mode": "train", "keep": keep, "p": p}

    def backward(dout, cache):
        return dout * cache["keep"] / (1 - cache["p"]) if cache["mode"] == "train" else dout

    score, out = _score(grading.a5.dropout, forward, backward, capsys=capsys)
    assert score == 4.0, out


def test_unscaled_dropout_loses_the_train_part_only(capsys):
    """Not inverted (kept units keep their value): its backward pass matches its own forward pass."""
    def forward(x, p, mode="train", seed=None):
        if mode == "test":
            return x, ("test", None)
        mask = (np.random.default_rng(seed).random(x.shape) >= p) * 1.0
        return x * mask, ("train", mask)

    def backward(dout, cache):
        return dout * cache[1] if cache[0] == "train" else dout

    score, out = _score(grading.a5.dropout, forward, backward, capsys=capsys)
    assert score == 2.0, out
    assert "inverted dropout scales at training time" in out


def test_dropout_that_ignores_the_seed_loses_the_train_part(sol, capsys):
    score, out = _score(grading.a5.dropout, lambda x, p, mode="train", seed=None: sol["dropout_forward"](x, p, mode),
                        sol["dropout_backward"], capsys=capsys)
    assert score == 2.0 and "must depend on the seed only" in out, out


def test_a_cache_that_cannot_travel_is_named(sol, capsys):
    def forward(x, p, mode="train", seed=None):
        out, cache = sol["dropout_forward"](x, p, mode, seed)
        return out, (cache, np.random.default_rng(0))                  # a Generator in the cache

    score, out = _score(grading.a5.dropout, forward, lambda dout, cache: sol["dropout_backward"](dout, cache[0]),
                        capsys=capsys)
    assert score == 2.0, out                                            # train 2; test and backward lost
    assert "the cache holds" in out and "Generator" in out


# --------------------------------------------------------------------------------------------
# Batch normalisation
# --------------------------------------------------------------------------------------------
def test_batchnorm_with_cs231n_momentum_loses_both_running_parts(sol, capsys):
    def forward(x, gamma, beta, bn_param):
        before = {k: np.array(bn_param.get(k, v)) for k, v in (("running_mean", np.zeros(x.shape[1])),
                                                                ("running_var", np.ones(x.shape[1])))}
        out, cache = sol["batchnorm_forward"](x, gamma, beta, bn_param)
        if bn_param["mode"] == "train":                                 # momentum as the weight of the old value
            m = bn_param.get("momentum", 0.1)
            for k in before:
                new = (bn_param[k] - (1 - m) * before[k]) / m           # the batch statistic
                bn_param[k] = m * before[k] + (1 - m) * new
        return out, cache

    score, out = _score(grading.a5.batchnorm_forward, forward, capsys=capsys)
    assert score == 3.0, out
    assert "(1 - momentum) * running + momentum * batch mean" in out


def test_batchnorm_that_rebinds_bn_param_loses_the_running_parts(sol, capsys):
    def forward(x, gamma, beta, bn_param):
        bn_param = dict(bn_param)                                       # a copy: the caller's dict is not updated
        return sol["batchnorm_forward"](x, gamma, beta, bn_param)

    score, out = _score(grading.a5.batchnorm_forward, forward, capsys=capsys)
    assert score == 3.0, out


def test_staged_batchnorm_backward_earns_full_marks(sol, capsys):
    """The step-by-step backward pass (CS231n's computational graph) is as right as the formula."""
    def forward(x, gamma, beta, bn_param):
        eps = bn_param.get("eps", 1e-5)
        mu = x.mean(axis=0)
        xc = x - mu
        var = (xc ** 2).mean(axis=0)
        inv = 1 / np.sqrt(var + eps)
        out = gamma * xc * inv + beta
        return out, {"xc": xc, "inv": inv, "gamma": gamma, "var": var, "eps": eps}

    def backward(dout, c):
        N = dout.shape[0]
        dxhat = dout * c["gamma"]
        dinv = (dxhat * c["xc"]).sum(axis=0)
        dvar = dinv * -0.5 * (c["var"] + c["eps"]) ** -1.5
        dxc = dxhat * c["inv"] + dvar * 2 * c["xc"] / N
        dx = dxc - dxc.mean(axis=0)
        return dx, (dout * c["xc"] * c["inv"]).sum(axis=0), dout.sum(axis=0)

    score, out = _score(grading.a5.batchnorm_backward, forward, backward, capsys=capsys)
    assert score == 5.0, out


# --------------------------------------------------------------------------------------------
# The net
# --------------------------------------------------------------------------------------------
def test_net_built_from_a_wrong_batchnorm_backward_is_charged_once(sol, capsys):
    def bn_backward(dout, cache):          # treats the batch mean and variance as constants
        xhat, gamma, std = cache
        return dout * gamma / std, (dout * xhat).sum(axis=0), dout.sum(axis=0)

    ns = dict(sol, batchnorm_backward=bn_backward)
    exec(_answer(A5, "net_loss"), ns)      # the solution's net_loss, using this layer
    score, out = _score(grading.a5.batchnorm_backward, sol["batchnorm_forward"], bn_backward, capsys=capsys)
    assert score == 2.0, out
    score, out = _score(grading.a5.net_loss, ns["net_loss"], sol["batchnorm_forward"], bn_backward,
                        sol["dropout_forward"], sol["dropout_backward"], capsys=capsys)
    assert score == 5.0, out


def _answer(assignment: str, grade_id: str) -> str:
    from test_grading_checks import _nbgrader, _source, load_cells

    return next(_source(c) for c in load_cells(assignment) if _nbgrader(c).get("grade_id") == grade_id)


# --------------------------------------------------------------------------------------------
# Optimizers
# --------------------------------------------------------------------------------------------
def test_optimizer_steps_are_judged_from_the_learners_own_iterates(sol, capsys, monkeypatch):
    """RMSprop with a short memory and a small epsilon is chaotic near a minimum: a 1e-12 change
    grows to 1e-3 within 100 steps, so comparing whole trajectories would fail correct code. Each
    step is compared with torch's step from the learner's previous iterate instead."""
    chaotic = [(1, (3, 4), {"learning_rate": 0.02, "decay_rate": 0.9, "epsilon": 1e-2})]
    c, d, w0 = a5._problem(1, (3, 4))
    h = {**a5.DEFAULTS["rmsprop"], **chaotic[0][2]}
    run = probes.optimizer_steps(sol["rmsprop"], c, d, w0, dict(chaotic[0][2]), a5.STEPS)
    nudged = probes.optimizer_steps(sol["rmsprop"], c, d, w0 + 1e-12, dict(chaotic[0][2]), a5.STEPS)
    assert np.abs(run["ws"] - nudged["ws"]).max() > 1e-6               # it is chaotic
    expected, _ = a5._reference("rmsprop", c, d, run["ws"], h)
    assert np.abs(run["ws"] - expected).max() < 1e-12                  # yet every step is torch's
    monkeypatch.setattr(a5, "RMSPROP_VISIBLE", chaotic)
    assert grading.a5.rmsprop(sol["rmsprop"]) == 2.0


def test_one_wrong_step_is_reported_at_that_step(sol, capsys):
    def sgd_momentum(w, dw, config=None):
        next_w, config = sol["sgd_momentum"](w, dw, config)
        config["calls"] = config.get("calls", 0) + 1
        return (next_w + 1e-3 if config["calls"] == 50 else next_w), config

    score, out = _score(grading.a5.sgd_momentum, sgd_momentum, capsys=capsys)
    assert score == 1.0 and "w after step 50 (from your w after step 49)" in out, out


def test_momentum_zero_keeps_the_last_gradient_as_velocity(sol):
    c, d, w0 = a5._problem(12, (20,))
    run = probes.optimizer_steps(sol["sgd_momentum"], c, d, w0, {"learning_rate": 0.1, "momentum": 0.0}, 3)
    _, final = a5._reference("sgd_momentum", c, d, run["ws"], {"learning_rate": 0.1, "momentum": 0.0})
    assert np.allclose(final["velocity"], probes.scalar_gradient(c, d)(run["ws"][-2]))
    assert np.allclose(run["config"]["velocity"], final["velocity"])


def test_call_with_args_returns_what_the_function_changed(sol):
    param = {"mode": "train"}
    run = probes.call_with_args(sol["batchnorm_forward"], np.arange(6.0).reshape(3, 2), np.ones(2), np.zeros(2), param)
    assert set(run["args"][3]) == {"mode", "running_mean", "running_var"}
    assert np.allclose(run["args"][3]["running_mean"], 0.1 * np.array([2.0, 3.0]))


# --------------------------------------------------------------------------------------------
# Written answers
# --------------------------------------------------------------------------------------------
def test_written_answers_are_not_scanned_as_code():
    """A written answer may mention ``../``, ``subprocess`` or start a line with ``%``: prose that
    never runs is not flagged for review; the same text in an answer code cell is."""
    import nbformat

    from course.autograde.execute import review_flags

    text = "% of units dropped\nSee ../notes and subprocess docs; course.grading is the grader."
    answer = {"nbgrader": {"grade": True, "solution": True, "grade_id": "w", "points": 2}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text, metadata=answer)])
    assert review_flags(nb) == []
    nb.cells.append(nbformat.v4.new_code_cell(text, metadata={"nbgrader": {"solution": True, "grade_id": "c"}}))
    assert set(review_flags(nb)) >= {"course internals", "files outside the working folder", "subprocesses"}
