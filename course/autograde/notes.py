"""Grading notes: what went wrong in a submission, kept in the notebook and shown to everyone.

A note is one line. Notes live in the notebook's metadata (``course_grading.notes``) from staging
on; ``GradingNotes`` writes them into a "Grading notes" cell at the top of the graded notebook,
and the status table lists them. Also the small vocabulary every grading step shares: how to
name a cell, how to describe an error output.

Used by: every module of ``course.autograde``.
"""
from __future__ import annotations

import nbformat

NOTES = "course_grading"          # notebook metadata key holding {"notes": [...], ...}
NOTES_CELL = "course_grading_notes"  # cell metadata marker of the "Grading notes" cell
GRADER_ERRORS = ("CellTimeoutError", "KernelDied", "KernelRestarted", "NotRun", "TestCellNotRecognised")


def add_note(nb, text: str) -> None:
    """Append one line to the notebook's grading notes (kept in ``nb.metadata.course_grading``)."""
    notes = nb.metadata.setdefault(NOTES, {}).setdefault("notes", [])
    if text not in notes:
        notes.append(text)


def notes_of(nb) -> list[str]:
    """The grading notes a notebook carries (empty list when none)."""
    return list(nb.get("metadata", {}).get(NOTES, {}).get("notes", []))


def set_fact(nb, key: str, value) -> None:
    """Record a fact about the grading run (e.g. ``sandbox``) in the notebook's metadata."""
    nb.metadata.setdefault(NOTES, {})[key] = value


def fact(nb, key: str, default=None):
    return nb.get("metadata", {}).get(NOTES, {}).get(key, default)


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def error_output(ename: str, evalue: str):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def coursedir(preprocessor):
    """The CourseDirectory of the nbgrader converter running ``preprocessor`` (or None)."""
    exporter = getattr(preprocessor, "parent", None)
    return getattr(getattr(exporter, "parent", None), "coursedir", None)


def where(cell, number: int | None = None) -> str:
    """How notes name a cell: "test cell 'x'", "answer cell 'y'", "read-only cell 'z'", "code cell 7"."""
    gid = grade_id(cell)
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if gid and meta.get("solution"):
        return f"answer cell '{gid}'"
    if gid and meta.get("grade"):
        return f"test cell '{gid}'"
    if gid:
        return f"read-only cell '{gid}'"
    return f"code cell {number}" if number else "a code cell"


def describe_error(out) -> str:
    ename, evalue = out.get("ename", "Error"), (out.get("evalue") or "").strip()
    if ename == "CellTimeoutError":
        return "ran past the time limit and was interrupted (an endless loop?)"
    evalue = evalue.splitlines()[0] if evalue else ""
    if len(evalue) > 200 and ename not in GRADER_ERRORS:
        evalue = evalue[:200] + "..."
    return f"{ename}: {evalue}" if evalue else ename
