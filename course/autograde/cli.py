"""The instructors' subcommands of ``course`` (``course.cli``): release, autograde, feedback,
grades, roster, due.

    course release [A ...]                 solutions/ -> assignments/ (make assignments)
    course autograde [A ...] --jobs N      grade submitted/ (make autograde)
    course feedback [A ...]                HTML feedback without hidden tests (make feedback)
    course grades [--out DIR]              CSV exports and score plot (make grades)
    course roster students.csv             the class list (make roster)
    course due A "2026-12-24 23:59 UTC"    a due date (make due)

Each takes ``--root DIR``: the course folder with ``nbgrader_config.py`` (default: the current
folder if it has one, else this checkout). nbgrader and pandas are imported only when a command
runs, so ``course --help`` and the grading kernel's launcher (``course kernel launch``) stay fast.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def _root(args, *folders: str) -> Path:
    """The course folder: ``--root``, else the current folder if it has ``nbgrader_config.py``,
    else this checkout (``course.paths.ROOT``); ``RuntimeError`` when it lacks ``folders``."""
    from course.paths import ROOT, checkout

    root = Path(args.root or (Path.cwd() if (Path.cwd() / "nbgrader_config.py").exists() else ROOT)).resolve()
    return checkout("nbgrader_config.py", *folders, root=root)


def _release(args) -> int:
    from course.autograde.commands import release

    root = _root(args, "solutions")
    for path in release(args.assignments, root):
        print(f"released {path.relative_to(root)}")
    return 0


def _autograde(args) -> int:
    from course.autograde.commands import list_assignments
    from course.autograde.grade import grade
    from course.autograde.staging import submitted_students

    root = _root(args)
    names = args.assignments or [a for a in list_assignments(root) if submitted_students(a, root)]
    if not names:
        print("Nothing to grade: put submissions in submitted/<student>/<assignment>/.", file=sys.stderr)
        return 1
    failed = 0
    for name in names:
        table = grade(name, root, jobs=args.jobs, students=args.student, timeout=args.timeout,
                      student_timeout=args.student_timeout)
        failed += int((table.status == "FAILED").sum())
    return 1 if failed else 0


def _feedback(args) -> int:
    from course.autograde.report import feedback

    root = _root(args)
    for path in feedback(args.assignments, root):
        print(f"feedback {path.relative_to(root)}")
    return 0


def _grades(args) -> int:
    from course.autograde.report import export_grades

    root = _root(args)
    table = export_grades(root, Path(args.out) if args.out else None)
    out = Path(args.out) if args.out else root / "build" / "grades"
    print(table.groupby("assignment")["score"].describe().to_string() if len(table) else "no grades yet")
    print(f"wrote {out / 'grades.csv'}, {out / 'grades_by_question.csv'} and {out / 'score_distribution.png'}")
    return 0


def _roster(args) -> int:
    from course.autograde.commands import nbgrader
    from course.autograde.grade import ROSTER, roster_of

    root = _root(args)
    print(nbgrader(["db", "student", "import", str(Path(args.csv).resolve())], root).stdout.strip())
    shutil.copyfile(args.csv, root / ROSTER)   # grading checks submitted folders against it
    print(f"roster: {len(roster_of(root))} students in {root / ROSTER}")
    return 0


def _due(args) -> int:
    from course.autograde.commands import nbgrader

    print(nbgrader(["db", "assignment", "add", args.assignment, f"--duedate={args.date}"],
                   _root(args)).stdout.strip())
    return 0


def add_parsers(sub) -> None:
    """Add release, autograde, feedback, grades, roster and due to ``course``'s subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", default=None,
                        help="course folder with nbgrader_config.py (default: the current folder if it "
                             "has one, else this checkout)")

    p = sub.add_parser("release", parents=[common], help="generate assignments/ from solutions/ (make assignments)")
    p.add_argument("assignments", nargs="*")
    p.set_defaults(func=_release)

    p = sub.add_parser("autograde", parents=[common], help="grade submitted/ with nbgrader, in parallel (make autograde)")
    p.add_argument("assignments", nargs="*")
    p.add_argument("--jobs", "-j", type=int, default=1, help="students graded at a time (default 1)")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--timeout", type=int, help="seconds per cell (default: nbgrader_config.py)")
    p.add_argument("--student-timeout", type=float, help="seconds per student in parallel mode")
    p.set_defaults(func=_autograde)

    p = sub.add_parser("feedback", parents=[common], help="HTML feedback for every graded submission (make feedback)")
    p.add_argument("assignments", nargs="*")
    p.set_defaults(func=_feedback)

    p = sub.add_parser("grades", parents=[common],
                       help="CSV exports (per assignment, per question) and score plot (make grades)")
    p.add_argument("--out", help="output folder (default build/grades)")
    p.set_defaults(func=_grades)

    p = sub.add_parser("roster", parents=[common],
                       help="import the class list: a CSV with id[,first_name,last_name,email] (make roster)")
    p.add_argument("csv")
    p.set_defaults(func=_roster)

    p = sub.add_parser("due", parents=[common],
                       help='set an assignment\'s due date, e.g. due A1_backprop "2026-12-24 23:59 UTC"')
    p.add_argument("assignment")
    p.add_argument("date")
    p.set_defaults(func=_due)
