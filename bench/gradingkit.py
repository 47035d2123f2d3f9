"""Submissions and scratch courses for the grading self-tests and the autograde benchmark.

Used by: ``tests/test_grading_workflow.py``, ``tests/test_grading_attacks.py``, ``bench/run.py``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import nbformat

from course.autograde.commands import ROOT, config_dirs, ensure_in_gradebook, nbgrader_env, release
from course.autograde.notes import grade_id
from course.autograde.report import scores


def answered(assignment: str, root: Path = ROOT, notebook: str | None = None):
    """A correct submission: the released notebook with every answer cell filled from the solution.

    (What a student who solved everything hands in: no hidden tests, no solution markers.)
    """
    source, rel = config_dirs(root)
    name = notebook or assignment
    sol = nbformat.read(Path(root) / source / assignment / f"{name}.ipynb", as_version=4)
    out = nbformat.read(Path(root) / rel / assignment / f"{name}.ipynb", as_version=4)
    answers = {grade_id(c): c.source for c in sol.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    for cell in out.cells:
        gid = grade_id(cell)
        if gid in answers and cell.metadata.nbgrader.get("solution"):
            cell.source = "\n".join(line for line in answers[gid].split("\n")
                                    if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return out


def submit(assignment: str, student: str, nb, root: Path = ROOT, name: str | None = None,
           timestamp: str | None = None) -> Path:
    """Write ``nb`` (a notebook, or raw text for broken files) as ``student``'s submission."""
    folder = Path(root) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or assignment}.ipynb"
    if isinstance(nb, str):
        path.write_text(nb, encoding="utf-8")
    else:
        nbformat.write(nb, path)
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)
    return path


def scratch_course(dest: Path, assignments: Sequence[str], root: Path = ROOT, gradebook: bool = True) -> Path:
    """A throwaway course folder at ``dest``: config, the assignments' sources and release, and
    (``gradebook=True``) a gradebook that knows them; else ``grade`` records them on first use.
    For tests and benchmarks."""
    source, rel = config_dirs(root)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(root) / "nbgrader_config.py", dest / "nbgrader_config.py")
    for assignment in assignments:
        shutil.copytree(Path(root) / source / assignment, dest / source / assignment, dirs_exist_ok=True)
        if (Path(root) / rel / assignment).exists():
            shutil.copytree(Path(root) / rel / assignment, dest / rel / assignment, dirs_exist_ok=True)
        else:
            release([assignment], dest)
        if gradebook:
            ensure_in_gradebook(assignment, dest)
    return dest


def benchmark(assignment: str, n: int = 20, jobs: int = 2, root: Path = ROOT, workdir: Path | None = None,
              quiet: bool = True) -> dict:
    """Time ``make autograde`` on ``n`` submissions of ``assignment``: ``--jobs 1`` vs ``--jobs N``.

    Half of the submissions are correct (``answered``), half are the blank release, so both the
    full-marks and the zero paths run. Each mode grades its own fresh copy of the same course,
    through the command line (``python -m course.autograde grade``), timed end to end: the
    serial run pays one nbgrader start, the parallel run its forkserver start.
    Returns ``{"n", "jobs", "serial_s", "parallel_s", "speedup", "identical_scores",
    "load_before", "load_after", "cpus"}``; the seconds depend on how busy the machine is.
    """
    import tempfile

    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="autograde-bench-"))
    courses = {}
    for label in ("serial", "parallel"):
        course = scratch_course(base / label, [assignment], root)
        _, rel = config_dirs(course)
        blank = nbformat.read(course / rel / assignment / f"{assignment}.ipynb", as_version=4)
        good = answered(assignment, course)
        for k in range(n):
            submit(assignment, f"student{k:02d}", good if k % 2 == 0 else blank, course)
        courses[label] = course
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results, tables = {}, {}
    for label, j in (("serial", 1), ("parallel", jobs)):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "course.autograde", "--root", str(courses[label]),
                               "grade", assignment, "--jobs", str(j)], env=nbgrader_env(), capture_output=True, text=True)
        results[f"{label}_s"] = round(time.perf_counter() - start, 1)
        if not quiet or proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
        tables[label] = scores(assignment, courses[label])[["student", "question", "auto_score", "needs_manual_grade"]]
    return {"n": n, "jobs": jobs, **results,
            "speedup": round(results["serial_s"] / results["parallel_s"], 2),
            "identical_scores": bool(len(tables["serial"]) > 0 and tables["serial"].equals(tables["parallel"])),
            "load_before": round(load, 2),
            "load_after": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else float("nan"),
            "cpus": os.cpu_count()}
