"""The released assignments (``assignments/``) are exactly what ``make assignments`` makes of
``solutions/``, and they give nothing away.

* Regenerating them (nbgrader's real ``generate_assignment``, through ``course.release``,
  in a temp copy of the course) gives the same notebooks and the same other files.
* No released notebook holds solution code, solution markers or hidden tests; every answer cell
  holds the stub (a written answer graded by hand: "YOUR ANSWER HERE", its model answer and rubric
  stay in the source).
* Every released notebook follows the course conventions (``course.notebooks.problems``), with a
  Colab badge that points at the released file itself.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from course import notebooks
from course.autograde.commands import list_assignments, release
from course.autograde.notes import grade_id
from course.paths import ROOT
ASSIGNMENTS = list_assignments(ROOT)
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")

pytestmark = pytest.mark.skipif(not ASSIGNMENTS, reason="no assignments in solutions/")


@pytest.fixture(scope="session")
def regenerated(run_once) -> Path:
    """A temp course with ``assignments/`` regenerated from ``solutions/`` (once per test run,
    shared by xdist workers)."""
    def build(base: Path) -> str:
        course = base / "course"
        if course.exists():
            shutil.rmtree(course)
        course.mkdir()
        shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
        shutil.copytree(ROOT / "solutions", course / "solutions",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        release(ASSIGNMENTS, course)
        return str(course)

    return Path(run_once("release", build))


def _files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and ".ipynb_checkpoints" not in p.parts}


def _released(assignment: str) -> list[Path]:
    return sorted((ROOT / "assignments" / assignment).glob("*.ipynb"))


def test_every_assignment_is_released():
    for assignment in ASSIGNMENTS:
        names = {p.name for p in (ROOT / "solutions" / assignment).glob("*.ipynb")}
        assert names and names == {p.name for p in _released(assignment)}, (
            f"assignments/{assignment} is missing or stale: run `make assignments`")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.slow
def test_regenerating_gives_the_same_release(regenerated, assignment):
    fresh, committed = _files(regenerated / "assignments" / assignment), _files(ROOT / "assignments" / assignment)
    assert sorted(fresh) == sorted(committed), "run `make assignments` and commit assignments/"
    for name, path in fresh.items():
        if name.endswith(".ipynb"):
            same = json.loads(path.read_text(encoding="utf-8")) == \
                json.loads(committed[name].read_text(encoding="utf-8"))
        else:
            same = path.read_bytes() == committed[name].read_bytes()
        assert same, f"assignments/{assignment}/{name} differs from a fresh release: run `make assignments`"


def _regions(text: str, begin: str, end: str) -> list[str]:
    """The non-blank lines inside begin/end marker regions."""
    out, inside = [], False
    for line in text.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and line.strip():
            out.append(line.strip())
    return out


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solution_code_and_no_hidden_tests(assignment):
    for path in _released(assignment):
        source = nbformat.read(ROOT / "solutions" / assignment / path.name, as_version=4)
        released = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in released.cells)
        for marker in MARKERS:
            assert marker not in text, f"{path.name}: '{marker}' in the released notebook"
        by_id = {grade_id(c): c for c in released.cells if grade_id(c)}
        for cell in source.cells:
            gid = grade_id(cell)
            secret = _regions(cell.source, "BEGIN SOLUTION", "END SOLUTION") + \
                _regions(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
            if not secret:
                continue
            assert gid in by_id, f"{path.name}: cell {gid} is missing from the release"
            mine = by_id[gid].source.split("\n")
            outside = set(_outside(cell.source))
            leaked = [line for line in secret if line not in outside and any(line == m.strip() for m in mine)]
            assert not leaked, f"{path.name}, cell {gid}: released with {leaked}"
            if cell.metadata.nbgrader.get("solution") and _regions(cell.source, "BEGIN SOLUTION", "END SOLUTION"):
                stub = "raise NotImplementedError()" if cell.cell_type == "code" else "YOUR ANSWER HERE"
                assert stub in by_id[gid].source, f"{path.name}, cell {gid}: no stub"


def _outside(text: str) -> list[str]:
    """Lines of a cell outside every marker region (they may legitimately stay in the release)."""
    out, inside = [], False
    for line in text.split("\n"):
        if any(m in line for m in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS")):
            inside = True
        elif any(m in line for m in ("END SOLUTION", "END HIDDEN TESTS")):
            inside = False
        elif not inside:
            out.append(line.strip())
    return out


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_follows_conventions_with_its_own_badge(assignment):
    for path in _released(assignment):
        assert notebooks.problems(path) == []
        first = nbformat.read(path, as_version=4).cells[0].source
        assert notebooks.badge(f"assignments/{assignment}/{path.name}") in first
        assert "solutions/" not in first
