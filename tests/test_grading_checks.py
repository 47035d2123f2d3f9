"""The graded checks of the assignments (``course.grading``), in-process, without nbgrader.

Two layers of tests:

* **Notebook level.** Each solution notebook in ``solutions/`` is "graded" in this process the way
  nbgrader's autograde does it: all code cells run in order in one namespace (errors do not stop
  the run), and each grade cell scores like ``nbgrader.utils.determine_grade``: an error or any
  stderr output (a warning counts) gives 0, else the cell's last value is the partial credit.
  The solutions must score full marks, the released stubs 0, and each wrong submission of
  ``WRONG_SUBMISSIONS`` exactly its intended scores. The grading-infra tests build the same
  variants from ``WRONG_SUBMISSIONS`` and grade them through nbgrader's real command line.
* **Check level.** Every check scores a stub 0, survives garbage (None, numbers, objects whose
  ``==`` is always True, functions that exit or loop), never raises, never writes to stderr, and
  takes well under a second.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from course import grading
from course.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from gradingkit import SUBMISSION_FILES, WRONG_SUBMISSIONS, write_files  # noqa: E402 - the table of wrong submissions

# the automatically graded points of each assignment (the written answers, graded by hand, add
# more; these tests do not score them)
ASSIGNMENTS = {"A1_backprop": 20, "A2_autograd_modules": 12, "A3_data_classifiers": 16, "A4_cnns": 17,
               "A5_norm_regularisation": 26, "A6_convolution": 20}
#: test cells that take time on purpose (seconds allowed per call, on a busy machine): A6 times a
#: convolution; A3's graded run trains (5 epochs on the 600 stand-in images: about a second on a
#: quiet laptop)
TIMED_CHECKS = {"test_conv_fast": 30.0, "test_mnist_training": 20.0}
STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]


# --------------------------------------------------------------------------------------------
# Wrong submissions: exact edits of the solution notebooks and the scores they must get
# --------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------
# Grading a notebook in this process, the way nbgrader's autograde does
# --------------------------------------------------------------------------------------------
def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def load_cells(assignment: str) -> list[dict]:
    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def clear_solutions(source: str) -> str:
    """What ``nbgrader generate_assignment`` makes of an answer cell (ClearSolutions)."""
    out, inside = [], False
    for line in source.split("\n"):
        if "### BEGIN SOLUTION" in line:
            inside = True
            indent = re.match(r"\s*", line).group(0)
            out += [indent + s for s in STUB]
        elif "### END SOLUTION" in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def apply_edits(cells: list[dict], edits) -> list[dict]:
    cells = [dict(c, source=_source(c)) for c in cells]
    by_id = {_nbgrader(c).get("grade_id"): c for c in cells}
    for grade_id, old, new in edits:
        cell = by_id[grade_id]
        assert old in cell["source"], f"{grade_id}: {old!r} not found"
        cell["source"] = cell["source"].replace(old, new)
    return cells


def release(cells: list[dict]) -> list[dict]:
    """Answer cells as released (stubs); test cells stay as in the source (nbgrader restores them)."""
    return [dict(c, source=clear_solutions(_source(c))) if _nbgrader(c).get("solution") else c
            for c in cells]


def released_as_submitted(assignment: str) -> list[dict]:
    """The committed student notebook as handed in untouched, with its test cells as nbgrader
    restores them from the source (hidden tests included)."""
    path = ROOT / "assignments" / assignment / f"{assignment}.ipynb"
    source = {_nbgrader(c).get("grade_id"): c for c in load_cells(assignment)}
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [source[_nbgrader(c)["grade_id"]] if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")
            else c for c in cells]


@dataclass
class Graded:
    scores: dict
    outputs: dict
    seconds: dict
    errors: list   # (cell index, error) of every cell that raised, graded or not

    @property
    def total(self) -> float:
        return round(sum(self.scores.values()), 4)


def grade_in_process(cells: list[dict]) -> Graded:
    """Run the code cells in order in one namespace; score grade cells as nbgrader would.

    Like CI's smoke runs, ``SMOKE = True`` and ``DEVICE = "cpu"`` are injected after a cell tagged
    ``parameters``, which keeps the ungraded demos small (the checks do not depend on SMOKE).
    """
    ns: dict = {"__name__": "__main__"}
    scores, outputs, seconds, errors = {}, {}, {}, []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code" or "colab" in cell.get("metadata", {}).get("tags", []):
            continue
        meta = _nbgrader(cell)
        out, err = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        value, failed = None, False
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                tree = ast.parse(_source(cell))
                last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
                exec(compile(tree, "<cell>", "exec"), ns)
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), ns)
            except BaseException as e:  # noqa: BLE001 - a cell error, as in a kernel
                failed = True
                err.write(f"{type(e).__name__}: {e}")
                errors.append((index, f"{type(e).__name__}: {e}"))
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            exec("SMOKE = True\nDEVICE = 'cpu'", ns)
        if meta.get("grade") and not meta.get("solution"):
            gid = meta["grade_id"]
            noisy = bool(err.getvalue()) or bool(caught)
            scores[gid] = 0.0 if failed or noisy else (
                float(value) if value is not None else float(meta["points"]))
            outputs[gid] = out.getvalue() + err.getvalue() + "".join(str(w.message) for w in caught)
            seconds[gid] = time.perf_counter() - start
    return Graded(scores, outputs, seconds, errors)


def full_marks(cells: list[dict]) -> dict:
    return {_nbgrader(c)["grade_id"]: float(_nbgrader(c)["points"]) for c in cells
            if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")}


@pytest.fixture
def short_timeout(monkeypatch):
    monkeypatch.setattr(grading.core, "TIMEOUT", 1.5)
    monkeypatch.setattr(grading.a3, "TRAINING_CPU_SECONDS", 3.0)  # A3's graded run (60 s when grading)


@pytest.fixture(autouse=True)
def in_scratch_folder(tmp_path, monkeypatch):
    """Notebooks and checks read and write files next to the notebook (A4's weights): here, a
    fresh folder per test. The hidden tests are found through $COURSE_HIDDEN_TESTS, as the
    autograder passes them, since the upward search from the working folder no longer reaches them."""
    monkeypatch.setenv("COURSE_HIDDEN_TESTS", str(ROOT / "hidden_tests"))
    monkeypatch.chdir(tmp_path)


def hand_in_files(assignment: str, changes: dict | None, monkeypatch) -> None:
    """As the autograder runs a submission: the files it hands in (``SUBMISSION_FILES`` with a
    variant's ``files``) lie in the working folder, and ``NBGRADER_EXECUTION=autograde`` tells
    the notebook not to train."""
    if assignment in SUBMISSION_FILES:
        write_files(Path.cwd(), assignment, changes)
        monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The notebooks' ungraded demos run in this process too: one thread avoids contention."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --------------------------------------------------------------------------------------------
# Notebook level
# --------------------------------------------------------------------------------------------
#: Assignments whose whole solution notebook grades in about a second: ``make test-fast`` runs the
#: notebook-level tests on these; the others (a graded training run, weights files, timed
#: convolutions, many cases: several seconds each) are ``slow``.
QUICK = ("A1_backprop", "A2_autograd_modules")


def _quick_first(assignments) -> list:
    return [pytest.param(a, marks=[] if a in QUICK else [pytest.mark.slow]) for a in sorted(assignments)]


@pytest.mark.parametrize("assignment", _quick_first(ASSIGNMENTS))
def test_solutions_get_full_marks(assignment, patched_checksums):
    grading.core._warm_up()   # PyTorch's one-time import costs (seconds on a busy machine) are not a check's
    cells = load_cells(assignment)
    for module in grading.ASSIGNMENTS:   # imports (torch) and one-time costs are not the cells' time
        getattr(grading, module)
    grading.core._warm_up()
    graded = grade_in_process(cells)
    assert graded.scores == full_marks(cells), graded.outputs
    assert graded.errors == []
    assert graded.total == ASSIGNMENTS[assignment]
    slow = {k: round(v, 2) for k, v in graded.seconds.items() if v > 2 * TIMED_CHECKS.get(k, 1.5)}
    assert not slow, f"test cells should take well under a second: {slow}"


@pytest.mark.parametrize("committed", [False, True], ids=["stubbed-source", "committed-release"])
@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_released_stubs_get_zero_without_errors(assignment, committed, patched_checksums):
    cells = released_as_submitted(assignment) if committed else release(load_cells(assignment))
    graded = grade_in_process(cells)
    assert graded.scores == {k: 0.0 for k in full_marks(load_cells(assignment))}, graded.scores
    assert graded.errors == [], "the released notebook must run top to bottom without errors"
    for gid, text in graded.outputs.items():
        assert "not implemented yet" in text, (gid, text)
        assert "Traceback" not in text and "could not finish" not in text, (gid, text)


def _tiered(variants) -> list:
    """Each variant executes a whole solution notebook (about a second each, 30+ of them): the
    first of each assignment runs in ``make test-fast`` too, the others are ``slow``."""
    seen: set = set()
    params = []
    for v in variants:
        params.append(pytest.param(v, id=f"{v.assignment[:2]}-{v.name}",
                                   marks=[pytest.mark.slow] if v.assignment in seen else []))
        seen.add(v.assignment)
    return params


@pytest.mark.parametrize("variant", _tiered(WRONG_SUBMISSIONS))
def test_wrong_submission_gets_intended_score(variant, patched_checksums, short_timeout, monkeypatch):
    hand_in_files(variant.assignment, variant.files, monkeypatch)
    cells = load_cells(variant.assignment)
    graded = grade_in_process(apply_edits(cells, variant.edits))
    expected = {**full_marks(cells), **{k: float(v) for k, v in variant.scores.items()}}
    assert graded.scores == expected, graded.outputs
    assert graded.total == variant.total


def test_variant_totals_add_up():
    for v in WRONG_SUBMISSIONS:
        marks = full_marks(load_cells(v.assignment))
        assert set(v.scores) <= set(marks), v.name
        assert sum({**marks, **v.scores}.values()) == v.total, v.name


def test_every_wrong_submission_kind_of_the_issue_is_covered():
    names = {v.name for v in WRONG_SUBMISSIONS}
    assert {"sign_error", "missing_bias_gradient", "wrong_reduction", "inplace_breaks_autograd",
            "eq_trick", "warnings", "infinite_loop"} <= names


# --------------------------------------------------------------------------------------------
# Check level
# --------------------------------------------------------------------------------------------
def _check_calls(assignment: str) -> list[tuple[str, str, str]]:
    """``(grade_id, visible call, hidden call)`` of each test cell, as source text."""
    calls = []
    for cell in load_cells(assignment):
        meta = _nbgrader(cell)
        if meta.get("grade") and not meta.get("solution"):
            source = _source(cell)
            lines = [ast.get_source_segment(source, node.value) for node in ast.parse(source).body
                     if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "score"]
            calls.append((meta["grade_id"], lines[0], lines[1]))
    return calls


def _solution_namespace(assignment: str) -> dict:
    """The setup, given-code and answer cells of a solution notebook, executed (no demos, no
    tests, no Colab install cell)."""
    ns: dict = {"__name__": "__main__"}
    for cell in load_cells(assignment):
        meta = _nbgrader(cell)
        given = meta.get("locked") and not meta.get("grade") and "colab" not in cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "code" and (meta.get("solution") or given):
            exec(_source(cell), ns)
    return ns


ALL_CHECKS = [(a, gid, visible, hidden) for a in sorted(ASSIGNMENTS)
              for gid, visible, hidden in _check_calls(a)]
CHECK_IDS = [f"{a[:2]}-{gid}" for a, gid, _, _ in ALL_CHECKS]


class AlwaysEqual:
    def __eq__(self, other):
        return True

    __le__ = __ge__ = __lt__ = __gt__ = __eq__


class CheatArray(np.ndarray):
    """An ndarray whose comparisons always say True."""

    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)

    __le__ = __ge__ = __eq__


def _stub(*args, **kwargs):
    raise NotImplementedError()


def _exits(*args, **kwargs):
    import sys

    sys.exit(1)


def _noisy_none(*args, **kwargs):
    import os
    import sys

    warnings.warn("a warning from learner code")
    print("to stderr", file=sys.stderr)
    os.write(2, b"C-level stderr\n")
    return None


def _cheat_array(*args, **kwargs):
    return np.zeros(3).view(CheatArray)


class _StubClass:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError()


GARBAGE = {"None": None, "a number": 42, "a string": "answer", "a stub": _stub,
           "a stub class": _StubClass, "sys.exit": _exits, "returns None": lambda *a, **k: None,
           "noisy None": _noisy_none, "the == trick": lambda *a, **k: AlwaysEqual(),
           "a cheating ndarray": _cheat_array}


@pytest.mark.parametrize("assignment, grade_id, visible, hidden", ALL_CHECKS, ids=CHECK_IDS)
def test_check_scores_garbage_zero_without_raising_or_stderr(assignment, grade_id, visible,
                                                             hidden, capfd):
    name = visible.split("(")[0]                 # e.g. grading.a1.relu
    nargs = len(ast.parse(visible).body[0].value.args)  # learner objects before points=...
    check = eval(name, {"grading": grading})
    for label, garbage in GARBAGE.items():
        for kwargs in ({}, {"hidden": True}):
            score = check(*[garbage] * nargs, **kwargs)
            out, err = capfd.readouterr()
            assert type(score) is float and score == 0.0, (label, score, out)
            assert err == "", (label, err)
            assert "could not finish" not in out and "Traceback" not in out, (label, out)


@pytest.mark.parametrize("assignment", _quick_first(ASSIGNMENTS))
def test_checks_are_fast_and_quiet_on_correct_code(assignment, capfd, patched_checksums, monkeypatch):
    hand_in_files(assignment, None, monkeypatch)
    ns = _solution_namespace(assignment)
    ns["grading"] = grading
    for grade_id, visible, hidden in _check_calls(assignment):
        eval(hidden, ns)                                     # warm up (first-use costs)
        for call in (visible, hidden):
            start = time.perf_counter()
            score = eval(call, ns)
            seconds = time.perf_counter() - start
            out, err = capfd.readouterr()
            points = float(re.search(r"points=([\d.]+)", call).group(1))
            assert score == points and type(score) is float, (grade_id, out)
            assert err == "", (grade_id, err)
            # well under a second on a laptop; generous here for a busy shared test machine
            assert seconds < TIMED_CHECKS.get(grade_id, 3.0), (grade_id, call, round(seconds, 2))


def test_endless_loop_is_stopped_once_and_not_rerun(monkeypatch, capsys):
    monkeypatch.setattr(grading.core, "TIMEOUT", 0.5)

    def numeric_gradient(f, x, h=1e-5):
        while True:
            pass

    start = time.perf_counter()
    assert grading.a1.numeric_gradient(numeric_gradient) == 0.0
    assert grading.a1.numeric_gradient(numeric_gradient, hidden=True) == 0.0
    assert time.perf_counter() - start < 3.0   # one time limit, not one per case or per call
    out = capsys.readouterr().out
    assert "took longer than 0.5 s" in out and "not run, because" in out


def test_partial_credit_is_a_plain_float_nbgrader_can_read(capsys):
    def affine_backward(dout, x, w, b):
        return dout @ w.T, x.T @ dout, np.zeros_like(b)     # db missing

    score = grading.a1.affine_backward(affine_backward)
    assert type(score) is float and score == 2.0 and repr(score) == "2.0"
    out = capsys.readouterr().out
    assert "✔ dx, dw [2 pts]: correct" in out and "✘ db [1 pt]" in out


def test_warnings_from_correct_code_are_a_note_not_a_penalty(capfd):
    def relu_forward(x):
        warnings.warn("deprecated!", DeprecationWarning)
        return np.maximum(x, 0)

    def relu_backward(dout, x):
        import sys

        print("debugging", file=sys.stderr)
        return dout * (x > 0)

    assert grading.a1.relu(relu_forward, relu_backward, hidden=True) == 3.0
    out, err = capfd.readouterr()
    assert err == "" and "note: your code emitted a warning" in out


def test_checks_leave_global_random_state_alone():
    import torch

    torch.manual_seed(123)
    np.random.seed(123)
    expected_torch, expected_np = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    with contextlib.redirect_stdout(io.StringIO()):
        grading.a2.gated_linear(_stub)
        grading.a4.bottleneck_block(_stub)
        grading.a4.cifar_accuracy(_stub, "a4_cifar_cnn.pt")
        grading.a3.mnist_mlp(_stub)
    assert torch.equal(torch.rand(3), expected_torch)
    assert np.array_equal(np.random.rand(3), expected_np)


def test_an_ndarray_subclass_cannot_fake_equality(capsys):
    def affine_forward(x, w, b):
        return np.zeros((x.shape[0], w.shape[1])).view(CheatArray)   # right shape, wrong values

    assert grading.a1.affine_forward(affine_forward) == 0.0
    assert "expected" in capsys.readouterr().out
    # the same subclass holding the right values passes: it is read as plain numbers
    assert grading.a1.affine_forward(lambda x, w, b: (x @ w + b).view(CheatArray)) == 2.0
