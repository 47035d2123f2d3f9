"""Self-test of the grading workflow, through nbgrader's real command line and gradebook.

A scratch course (a temp folder with ``nbgrader_config.py``, ``solutions/`` and the committed
``assignments/``) receives one submission per scenario below. ``python -m course autograde
--jobs 2`` (what ``make autograde JOBS=2`` runs; nbgrader's own ``autograde`` does the grading)
grades them all, and the gradebook must then hold exactly the intended score of every test cell.

Scenarios: per assignment the solution (full marks) and the released notebook as handed out
(0, without errors); written answers graded by hand (A5's) wait for the grader when answered
("needs manual grade") and score 0 at once when left blank, and the instructor's manual scores
complete the solution's full marks; the wrong submissions of ``tests/test_grading_checks.py``
(``WRONG_SUBMISSIONS``, the assignments engineer's table in ``course/grading/__init__.py``) of
``NBGRADER_VARIANTS``; and the hardening cases below, all made from a correct A1 (20
points) so that the damage is visible, plus one of A6 (20 points by its test cells):

==================  ===============================================================  ======
scenario            what the submission does                                         total
==================  ===============================================================  ======
crash               ``os._exit(1)`` in Q5's answer cell: the kernel dies; it is      17
                    restarted, the cells above re-run, Q5 scores 0, the rest counts
hang                ``while True: pass`` in Q5's answer cell: the per-cell time      17
                    limit interrupts it, Q5 scores 0
sys_exit            ``sys.exit(1)`` in Q5's answer cell: Q5 scores 0                 17
fills_memory        Q5's answer cell appends 80 MB arrays forever: the kernel's      17
                    memory cap turns it into a MemoryError, Q5 scores 0
deleted_edited      Q3's and Q4's test cells deleted; Q5 left blank and its test     17
                    cell rewritten to ``score = 3.0``: nbgrader puts the originals
                    back and grades the answers (Q3, Q4 full, Q5 0)
lost_metadata       every cell's metadata and id removed (an editor that drops       20
                    them): restored from the released notebook, graded as usual
invalid_json        the file is cut off mid-way: graded as the blank notebook, with   0
                    a note saying why
label_lookup (A3)   Q4's ``train_mnist`` trains nothing and answers from a table of    10 of 16
                    the held-out images and labels read from the data folder: the
                    sandbox's data view has no held-out split, so Q4 scores 0
patched_clock (A6)  the "vectorised" convolution calls the naive one, and its answer  17
                    cell replaces ``time.perf_counter`` in the kernel by a clock that
                    stands still: the grader times the round trips in its own process,
                    so Q3 earns its 4 points for right results and nothing for speed
==================  ===============================================================  ======

Written answers (A6's markdown cells graded by hand) are not scored by the autograder: a filled-in
one waits for a person ("needs manual grade"), one left as released scores 0 at once.

Then a subset is graded again in a second course folder with ``--jobs 1`` (one plain ``nbgrader
autograde``): the scores must be identical. Feedback (``nbgrader generate_feedback``) must show
check names, scores and notes and never the hidden tests; ``make grades`` must export them.

The expensive part (about 40 notebook runs) happens once, in a fixture shared by all tests (and
by both xdist workers, through a lock file). Set ``COURSE_GRADING_SELFTEST=full`` to grade every
variant of ``WRONG_SUBMISSIONS`` instead of ``NBGRADER_VARIANTS`` (one per new question, and those
whose grading depends on the kernel, the sandbox or the grader's clock; all of them are graded
in-process by ``tests/test_grading_checks.py``), and
``COURSE_GRADING_ASSIGNMENTS=A5_norm_regularisation`` (comma-separated) to grade only some
assignments (a targeted run; the A1-only tests then skip).
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from course.autograde import sandbox
from course.autograde.commands import list_assignments
from course.autograde.notes import grade_id
from course.autograde.report import scores
from course.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import gradingkit  # noqa: E402 - the self-tests' submissions, shared with the benchmark
from test_grading_checks import WRONG_SUBMISSIONS

A1 = "A1_backprop"
A5 = "A5_norm_regularisation"
_ONLY = [a for a in os.environ.get("COURSE_GRADING_ASSIGNMENTS", "").split(",") if a]
ASSIGNMENTS = [a for a in list_assignments(ROOT) if not _ONLY or a in _ONLY]
TIMEOUT = 20          # seconds per cell while testing: short for the hang; a slow read-only cell
                      # (an import on a busy machine) gets a second try anyway
A1_MEMORY_MB = 4608   # PyTorch alone reserves ~3.5 GB of address space; this cap leaves ~1 GB
# The wrong submissions graded through nbgrader by default: one per question that the issue
# "Assignments with the depth of a university course" added (A3 Q4, A4 Q2-Q3, A5, A6, A1's
# numpy-only rule), and those whose grading depends on the kernel, the sandbox or the grader's
# own clock, which the in-process tests cannot see (a hang, warnings on stderr, PyTorch out of
# reach, a training run's CPU budget, weights files staged from the submission, timing from the
# trusted side). Every variant of WRONG_SUBMISSIONS is graded in-process by
# tests/test_grading_checks.py; COURSE_GRADING_SELFTEST=full grades them all through nbgrader too.
NBGRADER_VARIANTS = {("A1_backprop", n) for n in ("sign_error", "infinite_loop", "warnings", "uses_torch")}
NBGRADER_VARIANTS |= {("A2_autograd_modules", "inplace_breaks_autograd")}
NBGRADER_VARIANTS |= {("A3_data_classifiers", n) for n in ("untrained", "no_train_mode", "over_budget", "too_slow")}
NBGRADER_VARIANTS |= {("A4_cnns", n) for n in ("max_pool", "no_projection", "untrained_weights", "weak_weights",
                                               "missing_weights", "oversized_weights")}
NBGRADER_VARIANTS |= {("A5_norm_regularisation", n) for n in ("unscaled_dropout", "bn_batch_stats_in_test",
                                                              "bn_backward_no_mean_var_paths",
                                                              "net_dropout_without_seed", "adam_no_bias_correction")}
NBGRADER_VARIANTS |= {("A6_convolution", n) for n in ("no_padding_crop", "pool_grad_everywhere", "fast_is_naive",
                                                      "sleepy_naive")}
A6 = "A6_convolution"
A3 = "A3_data_classifiers"
TRAINING_CPU_SECONDS = 10  # CPU budget of A3's graded run while testing (60 s when grading): the
                           # stand-in run takes about a second; "too_slow" runs into it
SERIAL_SUBSET = ["solution", "crash", "lost_metadata", "invalid_json"]


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------
@dataclass
class Scenario:
    """A submission: ``build(good, blank)`` makes it from the correct and the blank notebook.

    ``scores``: test cells whose intended score differs from full marks (all of them are 0 when
    ``zero``). ``note``: a phrase the status table must show for it. ``files``: changes to the
    files handed in besides the notebook (``gradingkit.SUBMISSION_FILES``; None leaves one out).
    """

    name: str
    assignment: str
    build: object
    scores: dict = field(default_factory=dict)
    zero: bool = False
    note: str | None = None
    files: dict = field(default_factory=dict)

    @property
    def student(self) -> str:
        return self.name


def prefixed(gid, code):
    """Put ``code`` at the top of the answer cell ``gid``."""
    def build(good, blank):
        nb = copy.deepcopy(good)
        for cell in nb.cells:
            if grade_id(cell) == gid:
                cell.source = code + cell.source
        return nb
    return build


def deleted_and_edited(good, blank):
    """Q3's and Q4's test cells deleted; Q5 left blank but its test cell rewritten to claim 3 points."""
    nb = copy.deepcopy(good)
    stub = {grade_id(c): c.source for c in blank.cells}["numeric_gradient"]
    for cell in nb.cells:
        if grade_id(cell) == "numeric_gradient":
            cell.source = stub
        if grade_id(cell) == "test_numeric_gradient":
            cell.source = "score = 3.0  # full marks, trust me\nscore"
    nb.cells = [c for c in nb.cells if grade_id(c) not in ("test_relu", "test_softmax_loss")]
    return nb


def lost_metadata(good, blank):
    nb = copy.deepcopy(good)
    nb.nbformat_minor = 4
    for cell in nb.cells:
        cell.metadata = {}
        cell.pop("id", None)
    return nb


def truncated(good, blank):
    return nbformat.writes(good)[:3000]


def label_lookup(good, blank):
    """A3's ``train_mnist`` replaced by the lookup-table forgery of ``gradingkit.LABEL_LOOKUP``."""
    nb = copy.deepcopy(good)
    for cell in nb.cells:
        if grade_id(cell) == "train_mnist":
            cell.source = gradingkit.LABEL_LOOKUP
    return nb


def patched_clock(good, blank):
    """A6: a slow "vectorised" convolution (it calls the naive one), and a kernel clock that
    stands still, as if every call took no time."""
    fast_is_naive = next(v for v in WRONG_SUBMISSIONS if v.assignment == A6 and v.name == "fast_is_naive")
    nb = gradingkit.edited(good, fast_is_naive.edits)
    for cell in nb.cells:
        if grade_id(cell) == "conv_fast":
            cell.source = ("import time as clock\n"
                           "clock.perf_counter = lambda: 0.0          # every call looks instant\n"
                           "clock.perf_counter_ns = lambda: 0\n" + cell.source)
    return nb


def scenarios() -> list[Scenario]:
    full = os.environ.get("COURSE_GRADING_SELFTEST") == "full"
    out = []
    for a in ASSIGNMENTS:
        out.append(Scenario("solution", a, lambda good, blank: good))
        out.append(Scenario("released", a, lambda good, blank: blank, zero=True,
                            files={n: None for n in gradingkit.SUBMISSION_FILES.get(a, {})}))
    for v in WRONG_SUBMISSIONS:
        if v.assignment in ASSIGNMENTS and (full or (v.assignment, v.name) in NBGRADER_VARIANTS):
            out.append(Scenario(v.name, v.assignment, lambda good, blank, e=v.edits: gradingkit.edited(good, e),
                                {k: float(p) for k, p in v.scores.items()}, files=v.files,
                                note="not graded" if "oversized" in v.name else None))
    if A1 in ASSIGNMENTS:
        q5 = {"test_numeric_gradient": 0.0}
        out += [
            Scenario("crash", A1, prefixed("numeric_gradient", "import os\nos._exit(1)\n"), q5, note="KernelDied"),
            Scenario("hang", A1, prefixed("numeric_gradient", "while True:\n    pass\n"), q5, note="time limit"),
            Scenario("sys_exit", A1, prefixed("numeric_gradient", "import sys\nsys.exit(1)\n"), q5, note="SystemExit"),
            Scenario("fills_memory", A1, prefixed("numeric_gradient", "hog = []\nwhile True:\n"
                                                  "    hog.append(np.ones(10**7))\n"), q5, note="MemoryError"),
            Scenario("deleted_edited", A1, deleted_and_edited, q5, note="was missing from the submission"),
            Scenario("lost_metadata", A1, lost_metadata, note="lost their grading metadata"),
            Scenario("invalid_json", A1, truncated, zero=True, note="not valid JSON"),
        ]
    if A3 in ASSIGNMENTS and sandbox.available() is None:
        # reads the held-out labels to forge Q4: the sandbox's data view does not have them
        out.append(Scenario("label_lookup", A3, label_lookup, {"test_mnist_training": 0.0}))
    if A6 in ASSIGNMENTS:
        out.append(Scenario("patched_clock", A6, patched_clock, {"test_conv_fast": 4.0}))
    return out


SCENARIOS = scenarios()


# --------------------------------------------------------------------------------------------
# The graded course (built once per test session, shared by xdist workers)
# --------------------------------------------------------------------------------------------
def _cli(root: Path, command: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    """``python -m course COMMAND --root ROOT ARGS...`` (release, autograde, feedback, grades, ...)."""
    proc = subprocess.run([sys.executable, "-m", "course", command, "--root", str(root), *args],
                          env=env, capture_output=True, text=True, timeout=1500)
    print(proc.stdout[-4000:], proc.stderr[-4000:])
    return proc


def _build(base: Path, kernel_env: dict) -> dict:
    from unittest import mock

    env = {**os.environ, **kernel_env}
    # the gradebooks learn the assignments inside the `grade` runs below (nbgrader generate_assignment)
    course = gradingkit.scratch_course(base / "course", ASSIGNMENTS, ROOT, gradebook=False)
    serial = gradingkit.scratch_course(base / "serial", [A1], ROOT, gradebook=False) if A1 in ASSIGNMENTS else None
    with mock.patch.dict(os.environ, kernel_env):   # weights files are trained on the stand-in data
        for a in gradingkit.SUBMISSION_FILES:
            if a in ASSIGNMENTS:   # the instructor ran the solution: a trained copy in the source folder,
                gradingkit.write_files(course / "solutions" / a, a)   # which must never reach a student
        for s in SCENARIOS:
            good = gradingkit.answered(s.assignment, course)
            blank = nbformat.read(course / "assignments" / s.assignment / f"{s.assignment}.ipynb", as_version=4)
            nb = s.build(good, blank)
            gradingkit.submit(s.assignment, s.student, nb, course, files=s.files)
            if serial and s.assignment == A1 and s.name in SERIAL_SUBSET:
                gradingkit.submit(s.assignment, s.student, nb, serial)
    runs = {}
    if A1 in ASSIGNMENTS:
        runs[A1] = _cli(course, "autograde", A1, "--jobs", "2", "--timeout", str(TIMEOUT),
                        env={**env, "COURSE_GRADING_MEMORY_MB": str(A1_MEMORY_MB)})
    others = [a for a in ASSIGNMENTS if a != A1]
    if others:
        runs["others"] = _cli(course, "autograde", *others, "--jobs", "2", "--timeout", str(TIMEOUT),
                              env={**env, "COURSE_TRAINING_CPU_SECONDS": str(TRAINING_CPU_SECONDS)})
    if serial:
        runs["serial"] = _cli(serial, "autograde", A1, "--jobs", "1", "--timeout", str(TIMEOUT),
                              env={**env, "COURSE_GRADING_MEMORY_MB": str(A1_MEMORY_MB)})
    runs["feedback"] = _cli(course, "feedback", A1, env=env) if A1 in ASSIGNMENTS else None
    runs["grades"] = _cli(course, "grades", "--out", str(base / "grades"), env=env)
    result = {"course": str(course), "serial": str(serial) if serial else None, "grades": str(base / "grades"),
              "returncodes": {k: p.returncode for k, p in runs.items() if p},
              "output": {k: (p.stdout + p.stderr)[-3000:] for k, p in runs.items() if p},
              "scores": {}, "status": {}}
    for a in ASSIGNMENTS:
        result["scores"][a] = scores(a, course).to_dict("records")
        status = course / "build" / "autograde" / a / "status.csv"
        result["status"][a] = _read_csv(status)
    if serial:
        result["scores"]["serial"] = scores(A1, serial).to_dict("records")
        result["status"]["serial"] = _read_csv(serial / "build" / "autograde" / A1 / "status.csv")
    return result


def _read_csv(path: Path) -> list[dict]:
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False).to_dict("records") if path.exists() else []


@pytest.fixture(scope="session")
def graded(run_once, kernel_env) -> dict:
    """The graded course, built once per test run (the other xdist worker reuses it)."""
    return run_once("grading", lambda base: _build(base, kernel_env))


def _student(graded, key, student):
    rows = [r for r in graded["scores"][key] if r["student"] == student]
    status = [r for r in graded["status"][key] if r["student"] == student]
    return rows, (status[0] if status else None)


def _max_points(assignment) -> dict:
    """Points of the autograded cells (test cells), by grade id."""
    nb = nbformat.read(ROOT / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)
    return {grade_id(c): float(c.metadata.nbgrader["points"]) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata.nbgrader.get("solution")}


def _written(assignment) -> set:
    """Grade ids of the answers graded by hand (markdown cells that are grade and solution cells)."""
    nb = nbformat.read(ROOT / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)
    return {grade_id(c) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.metadata.nbgrader.get("solution")}


def _missing(value) -> bool:
    return value is None or value != value   # None, or NaN from the DataFrame


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("nbgrader"),   # one worker grades, the other goes on
              pytest.mark.skipif(not ASSIGNMENTS, reason="no assignments in solutions/")]


def test_the_default_nbgrader_variants_exist():
    """A misspelt name in ``NBGRADER_VARIANTS`` would silently grade nothing."""
    known = {(v.assignment, v.name) for v in WRONG_SUBMISSIONS}
    assert NBGRADER_VARIANTS <= known, sorted(NBGRADER_VARIANTS - known)


def test_every_grading_run_succeeded(graded):
    bad = {k: graded["output"][k] for k, code in graded["returncodes"].items() if code != 0}
    assert not bad, bad


@pytest.mark.parametrize("s", SCENARIOS, ids=lambda s: f"{s.assignment[:2]}-{s.name}")
def test_scenario_gets_intended_score(graded, s):
    rows, status = _student(graded, s.assignment, s.student)
    written = _written(s.assignment)
    points = {q: p for q, p in _max_points(s.assignment).items() if q not in written}
    expected = {q: 0.0 if s.zero else s.scores.get(q, p) for q, p in points.items()}
    got = {r["question"]: r["auto_score"] for r in rows if r["question"] not in written}
    assert got == expected, status
    assert not any(r["needs_manual_grade"] for r in rows if r["question"] not in written), rows
    by_hand = [r for r in rows if r["question"] in written]
    assert len(by_hand) == len(written)
    if s.zero:   # left as released: nothing to grade by hand, 0 at once
        assert all(r["auto_score"] == 0 and not r["needs_manual_grade"] for r in by_hand), by_hand
    else:        # answered: waits for the grader, counts 0 until then
        assert all(_missing(r["auto_score"]) and r["needs_manual_grade"] and r["score"] == 0 for r in by_hand), by_hand
    assert status is not None and status["status"] != "FAILED", status
    if written and not s.zero:
        assert status["status"] in ("needs manual grade", "notes", "needs review"), status
    assert status["score"] == sum(expected.values())
    if s.note:
        assert s.note in status["notes"], status["notes"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_is_clean_and_release_scores_zero_without_errors(graded, assignment):
    """Both grade without a single error output anywhere (the stubs' checks print, not raise)."""
    course = Path(graded["course"])
    for student in ("solution", "released"):
        _, status = _student(graded, assignment, student)
        waits = student == "solution" and _written(assignment)   # its written answers wait for a person
        assert status["status"] == ("needs manual grade" if waits else "ok") and not status["notes"], status
        nb = nbformat.read(course / "autograded" / student / assignment / f"{assignment}.ipynb", as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        stderr = [o for c in nb.cells if c.cell_type == "code" and grade_id(c)
                  for o in c.outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not errors and not stderr, (errors, stderr)


def test_parallel_and_serial_give_identical_scores(graded):
    if not graded["serial"]:
        pytest.skip("no A1")
    serial = graded["scores"]["serial"]
    parallel = [r for r in graded["scores"][A1] if r["student"] in SERIAL_SUBSET]
    assert len(serial) == len(parallel) > 0
    assert serial == parallel
    statuses = {r["student"]: r["status"] for r in graded["status"]["serial"]}
    assert statuses == {r["student"]: r["status"] for r in graded["status"][A1] if r["student"] in SERIAL_SUBSET}


def test_parallel_grading_records_batch_by_batch(graded):
    """The parallel run recorded its students in several nbgrader passes while the others were
    still graded (``course.autograde.record``), each student once, all of them in the end."""
    if not graded["serial"]:
        pytest.skip("no A1")
    executed = Path(graded["course"]) / "build" / "autograde" / A1 / "executed"
    batches = [b for b in sorted(executed.iterdir()) if b.is_dir()]
    assert len(batches) >= 2, [b.name for b in batches]
    recorded = [s.name for b in batches for s in b.iterdir()]
    assert len(recorded) == len(set(recorded))
    assert set(recorded) == {r["student"] for r in graded["status"][A1] if r["status"] != "FAILED"}


def test_feedback_shows_checks_and_scores_never_hidden_tests(graded):
    if A1 not in ASSIGNMENTS:
        pytest.skip("no A1")
    course = Path(graded["course"])
    pages = sorted((course / "feedback").glob(f"*/{A1}/{A1}.html"))
    assert {p.parts[-3] for p in pages} == {s.student for s in SCENARIOS if s.assignment == A1}
    source = nbformat.read(ROOT / "solutions" / A1 / f"{A1}.ipynb", as_version=4)
    hidden = {line.strip() for c in source.cells for line in _hidden_lines(c.source)}
    assert hidden, "the A1 source has no hidden tests?"
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "HIDDEN TESTS" not in html, page
        leaked = [line for line in hidden if line in html]
        assert not leaked, (page, leaked)
    crash = (course / "feedback" / "crash" / A1 / f"{A1}.html").read_text(encoding="utf-8")
    assert "Grading notes" in crash and "KernelDied" in crash
    good = (course / "feedback" / "solution" / A1 / f"{A1}.html").read_text(encoding="utf-8")
    assert "affine_backward" in good and "20" in good


def _hidden_lines(text: str) -> list[str]:
    out, inside = [], False
    for line in text.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif inside and line.strip():
            out.append(line)
    return out


def test_written_answers_graded_by_hand_complete_full_marks(graded, tmp_path):
    """The instructor grades A5's written answers (formgrader writes ``manual_score``); with them
    the solution has full marks, 26 automatic + 6 by hand."""
    from nbgrader.api import Gradebook

    if A5 not in ASSIGNMENTS:
        pytest.skip("no A5")
    written = _written(A5)
    nb = nbformat.read(ROOT / "assignments" / A5 / f"{A5}.ipynb", as_version=4)
    points = {grade_id(c): float(c.metadata.nbgrader["points"]) for c in nb.cells   # written ones too
              if c.metadata.get("nbgrader", {}).get("grade")}
    assert len(written) == 3 and {points[q] for q in written} == {2.0}
    copy = tmp_path / "gradebook.db"            # the shared gradebook is left as it is
    copy.write_bytes((Path(graded["course"]) / "gradebook.db").read_bytes())
    with Gradebook(f"sqlite:///{copy}") as gb:
        for question in written:
            grade = gb.find_grade(question, A5, A5, "solution")
            assert grade.needs_manual_grade and grade.auto_score is None
            grade.manual_score = points[question]     # what formgrader's grade API does
            grade.needs_manual_grade = False
        gb.db.commit()
    rows = scores(A5, tmp_path)
    mine = rows[rows.student == "solution"]
    assert mine.score.sum() == sum(points.values()) == 32.0
    assert not mine.needs_manual_grade.any()


def test_grades_export_and_plot(graded):
    import pandas as pd

    grades = Path(graded["grades"])
    table = pd.read_csv(grades / "grades.csv")
    assert (grades / "score_distribution.png").stat().st_size > 1000
    for a in ASSIGNMENTS:
        expected = {r["student"]: r["score"] for r in graded["status"][a]}
        rows = table[table.assignment == a]
        got = dict(zip(rows.student_id, rows.score))
        assert {k: got.get(k) for k in expected} == pytest.approx(expected), a
        assert all(v == 0 for k, v in got.items() if k not in expected), a  # students of other assignments


def test_make_targets_exist():
    out = subprocess.run(["make", "-n", "-C", str(ROOT), "assignments", "autograde", "feedback", "grades",
                          "A=A1_backprop", "JOBS=2"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "-m course autograde A1_backprop --jobs 2" in out.stdout and "-m course release" in out.stdout
    assert "-m course feedback" in out.stdout and "-m course grades" in out.stdout


# --------------------------------------------------------------------------------------------
# The instructor's workflow: roster, due date and late penalty, regrading one student, exports
# --------------------------------------------------------------------------------------------
def test_roster_late_penalty_regrade_and_export(tmp_path, kernel_env):
    import pandas as pd

    if A1 not in ASSIGNMENTS:
        pytest.skip("no A1")
    env = {**os.environ, **kernel_env}
    course = gradingkit.scratch_course(tmp_path / "course", [A1], ROOT)
    (tmp_path / "roster.csv").write_text("id,first_name,last_name,email\nalice,Alice,A,a@x.org\nbob,Bob,B,b@x.org\n")
    assert _cli(course, "roster", str(tmp_path / "roster.csv"), env=env).returncode == 0
    assert _cli(course, "due", A1, "2026-12-01 12:00:00 UTC", env=env).returncode == 0
    good = gradingkit.answered(A1, course)
    gradingkit.submit(A1, "alice", good, course, timestamp="2026-12-01 11:00:00 UTC")       # on time
    gradingkit.submit(A1, "bob", good, course, timestamp="2026-12-02 23:00:00 UTC")         # 1.5 days late
    gradingkit.submit(A1, "mallory", good, course, timestamp="2026-12-01 10:00:00 UTC")     # not on the roster
    out = _cli(course, "autograde", A1, "--jobs", "2", "--timeout", str(TIMEOUT), env=env)
    assert out.returncode == 0, out.stdout[-2000:]
    assert "not on the roster" in out.stdout and "mallory" in out.stdout
    status = pd.read_csv(course / "build" / "autograde" / A1 / "status.csv", keep_default_na=False)
    assert sorted(status.student) == ["alice", "bob"]
    # regrade alice alone: bob's row stays
    out = _cli(course, "autograde", A1, "--student", "alice", "--timeout", str(TIMEOUT), env=env)
    assert out.returncode == 0, out.stdout[-2000:]
    status = pd.read_csv(course / "build" / "autograde" / A1 / "status.csv", keep_default_na=False)
    assert sorted(status.student) == ["alice", "bob"] and set(status.score) == {20.0}
    assert _cli(course, "grades", "--out", str(tmp_path / "grades"), env=env).returncode == 0
    by_q = pd.read_csv(tmp_path / "grades" / "grades_by_question.csv", index_col="student")
    questions = [c for c in by_q.columns if c.startswith(f"{A1}:test_")]
    assert len(questions) == 6 and by_q.loc["alice", questions].sum() == 20.0
    assert by_q.loc["alice", f"{A1}:total"] == 20.0
    assert by_q.loc["bob", f"{A1}:total"] == 16.0      # two started days late: -2 x 10%
    assert "mallory" not in by_q.index
