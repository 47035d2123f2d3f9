"""Autograding a batch of submissions, serially (plain ``nbgrader autograde``) or in parallel.

Step by step (``grade``):

1. **Stage** each ``submitted/<student>/<A>/`` into ``build/autograde/<A>/`` (``staging``: only
   the notebooks; submissions stay untouched).
2. **Grade** with nbgrader's own command line. ``jobs=1`` runs ``nbgrader autograde <A>`` once, as
   nbgrader always does. ``jobs=N`` grades N students at a time, each in a worker forked from a
   warm server (``pool``: nbgrader, torch and the checks already imported) that runs the
   course's nbgrader preprocessors on the submission (``worker``) without an nbgrader
   application of its own and without writing the gradebook. Each job's graded notebooks are
   hashed when it ends and recorded in the real gradebook, batch by batch, while the others are
   still graded (``record``: ``nbgrader autograde`` passes that run no code, one writer at a
   time, after the hashes are checked). The scores are exactly those of the serial run.
3. **Report**: a table of every submission (score, status, sandbox, notes), printed and saved as
   ``build/autograde/<A>/status.csv``; regrading some students keeps the other rows.

Each notebook's kernel runs in a sandbox and its test cells are scored by the trusted grader
(``execute``).

Used by: the command line (``make autograde``) and the self-tests.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Sequence

from course.autograde import sandbox, slots
from course.autograde.commands import (ROOT, config_dirs, db_path, ensure_in_gradebook, nbgrader,
                                       nbgrader_env)
from course.autograde.pool import prestart, run_pool
from course.autograde.record import Recorder
from course.autograde.report import print_table, status_table
from course.autograde.staging import assignment_spec, stage, submitted_students


ROSTER = "roster.csv"   # the class list, kept next to the gradebook by `course roster`


def roster_of(root: Path) -> set[str]:
    """The student ids of the imported roster (``<root>/roster.csv``); empty when none was imported."""
    import csv

    path = Path(root) / ROSTER
    if not path.exists():
        return set()
    with open(path, newline="") as f:
        return {row["id"].strip() for row in csv.DictReader(f) if row.get("id", "").strip()}


def grade(assignment: str, root: Path = ROOT, jobs: int = 1, students: Sequence[str] | None = None,
          timeout: int | None = None, student_timeout: float | None = None,
          extra_args: Sequence[str] = (), env: dict | None = None, quiet: bool = False):
    """Autograde ``submitted/*/<assignment>`` into ``autograded/`` and the gradebook.

    Args:
        jobs: 1 runs ``nbgrader autograde`` once (serial, nbgrader's own way); N > 1 grades N
            students at a time (see the module docstring) and gives the same scores.
        students: only these students (default: everyone who submitted).
        timeout: per-cell time limit in seconds (default: ``Execute.timeout`` of the config).
        student_timeout: wall-clock limit for one student in parallel mode (default: none);
            a student past it is stopped and listed as failed.
        extra_args: more nbgrader options, e.g. ``["--SafeExecute.max_restarts=1"]``.
        env: extra environment variables for nbgrader and its kernels.

    Returns:
        the status table (pandas DataFrame: student, score, max_score, status, notes), also saved
        as ``build/autograde/<assignment>/status.csv``.
    """
    root = Path(root).resolve()
    work = root / "build" / "autograde" / assignment
    log = work / "autograde.log"
    for old in ("submitted", "executed", "jobs"):   # this run's scratch; other students' rows stay
        shutil.rmtree(work / old, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    students = sorted(students) if students else submitted_students(assignment, root)
    roster = roster_of(root)
    unknown = sorted(set(students) - roster) if roster else []
    if unknown and not quiet:
        print(f"NOT GRADED: {len(unknown)} submitted folder(s) are not on the roster (python -m course roster "
              f"FILE.csv): {', '.join(unknown)}. Check the names, or add them to the roster.")
    students = [s for s in students if s not in unknown]
    if not students:
        raise FileNotFoundError(f"No submissions of {assignment} in {root / 'submitted'} "
                                f"(expected submitted/<student>/{assignment}/*.ipynb).")
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    run_env = nbgrader_env({"COURSE_GRADING_THREADS": str(threads), **(env or {})})
    options = list(extra_args) + ([f"--Execute.timeout={int(timeout)}"] if timeout else [])
    warm = []
    if jobs > 1:   # the warm server and the slots' zygotes import while the gradebook is checked
        sources = sorted((root / config_dirs(root)[0] / assignment).glob("*.ipynb"))
        prestart(f"sqlite:///{db_path(root)}", assignment, sources)
        warm = _warm_slots(assignment, root, sources, min(jobs, len(students)), run_env, options)
    try:
        ensure_in_gradebook(assignment, root, log=log)
        why = sandbox.available()
        if why and not quiet:
            print("\n" + "!" * 100 + f"\nWARNING: grading WITHOUT A SANDBOX: {why}.\nSubmitted code runs with "
                  "your user's rights: it can read and write your files and reach the network. Every row is "
                  "marked 'unsandboxed'.\n" + "!" * 100 + "\n")
        start = time.perf_counter()
        failed: dict[str, str] = {}
        if jobs <= 1:
            staged = work / "submitted"
            notes = stage(assignment, students, root, staged)
            # only the chosen students are staged, so one plain run grades exactly them
            args = ["autograde", assignment, "--force", f"--CourseDirectory.submitted_directory={staged}", *options]
            proc = nbgrader(args, root, env=run_env, check=False, log=log)
            if proc.returncode != 0:
                for student in students:
                    if not (root / "autograded" / student / assignment).exists():
                        failed[student] = f"nbgrader could not grade it (see {log})"
        else:
            notes, failed = _autograde_parallel(assignment, students, root, work, jobs, options, run_env,
                                                student_timeout, log, warm)
    finally:
        for slot in warm:
            slot.stop()
    seconds = time.perf_counter() - start
    table = status_table(assignment, students, root, notes, failed)
    csv = work / "status.csv"
    if csv.exists():   # a regrade of some students keeps everyone else's row
        import pandas as pd

        old = pd.read_csv(csv, keep_default_na=False)
        table = pd.concat([old[~old.student.astype(str).isin(students)], table]).sort_values("student")
        table = table.reset_index(drop=True)
    table.to_csv(csv, index=False)
    table.attrs["csv"] = str(work / "status.csv")
    if not quiet:
        print_table(assignment, table, seconds, jobs)
    table.attrs["seconds"] = seconds
    table.attrs["unknown"] = unknown
    return table


def _autograde_parallel(assignment, students, root, work, jobs, options, env, student_timeout, log, warm):
    """Grade each student in a warm worker (``worker``), ``jobs`` at a time, and record the
    graded notebooks in the real gradebook as they come (``record``: nbgrader passes that run no
    code, one at a time, in the background)."""
    db = db_path(root)
    tasks, notes = [], {}
    for student in students:
        scratch = work / "jobs" / student
        scratch.mkdir(parents=True)
        notes.update(stage(assignment, [student], root, scratch / "submitted"))
        args = [str(root), str(scratch / "submitted" / student / assignment),
                str(scratch / "autograded" / student / assignment), student, assignment, f"sqlite:///{db}",
                list(options)]
        tasks.append({"key": student, "target": "worker", "args": args, "cwd": str(root), "env": env,
                      "log": str(scratch / "autograde.log")})
    recorder = Recorder(assignment, root, work, env, batch=max(4, len(students) // 6), limit=student_timeout,
                        students=len(students), jobs=jobs)
    run_pool(tasks, jobs, student_timeout, slots=warm, on_done=recorder.graded)
    with open(log, "a") as f:
        for student in students:
            f.write((work / "jobs" / student / "autograde.log").read_text(errors="replace")
                    if (work / "jobs" / student / "autograde.log").exists() else "")
    failed = recorder.finish()
    if failed:
        _record_failures(assignment, list(failed), root)
    return notes, failed


def _warm_slots(assignment: str, root: Path, sources: Sequence[Path], jobs: int, env: dict,
                options: Sequence[str] = ()) -> list:
    """One warm sandbox per job (``slots``), its zygote preloading what the read-only cells of
    the assignment's source notebooks import; none where there is no sandbox (kernels then
    start the usual way)."""
    if sandbox.available() is not None or any(o.replace(" ", "") == "--SafeExecute.sandbox=off" for o in options):
        return []
    modules = slots.preload_modules(sources)
    hidden = assignment_spec(root, assignment).get("hidden_data", [])
    return [slots.Slot(i, modules, env, hidden).start() for i in range(jobs)]


def _record_failures(assignment: str, students: list[str], root: Path) -> None:
    """Create the submissions nbgrader could not grade (no scores: formgrader shows them as
    needing manual grading), as a failed serial ``nbgrader autograde`` leaves them."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db_path(root)}") as gb:
        for student in students:
            gb.update_or_create_student(student)
            gb.update_or_create_submission(assignment, student)
