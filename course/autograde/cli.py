"""The instructors' command line: ``python -m course.autograde release|grade|feedback|grades``.

Used by: the Makefile (``make assignments / autograde / feedback / grades``).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Sequence

from course.autograde.commands import ROOT, list_assignments, nbgrader, release
from course.autograde.grade import ROSTER, grade, roster_of
from course.autograde.report import export_grades, feedback
from course.autograde.staging import submitted_students


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.autograde", description="Release, autograde, feedback and grades (nbgrader).")
    parser.add_argument("--root", default=None,
                        help="course folder with nbgrader_config.py (default: the current folder if it "
                             "has one, else this repository)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="generate assignments/ from solutions/ (make assignments)")
    p.add_argument("assignments", nargs="*")
    p = sub.add_parser("grade", help="autograde submitted/ (make autograde)")
    p.add_argument("assignments", nargs="*")
    p.add_argument("--jobs", "-j", type=int, default=1, help="students graded at a time (default 1)")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--timeout", type=int, help="seconds per cell (default: nbgrader_config.py)")
    p.add_argument("--student-timeout", type=float, help="seconds per student in parallel mode")
    p = sub.add_parser("feedback", help="HTML feedback for every graded submission (make feedback)")
    p.add_argument("assignments", nargs="*")
    p = sub.add_parser("grades", help="CSV exports (per assignment, per question) and score plot (make grades)")
    p.add_argument("--out", help="output folder (default build/grades)")
    p = sub.add_parser("roster", help="import the class list: a CSV with id[,first_name,last_name,email] (make roster)")
    p.add_argument("csv")
    p = sub.add_parser("due", help='set an assignment\'s due date, e.g. due A1_backprop "2026-12-24 23:59 UTC"')
    p.add_argument("assignment")
    p.add_argument("date")
    args = parser.parse_args(argv)
    root = Path(args.root or (Path.cwd() if (Path.cwd() / "nbgrader_config.py").exists() else ROOT)).resolve()
    if not (root / "nbgrader_config.py").exists():
        print(f"No nbgrader_config.py in {root}: run this from the course folder or pass --root.", file=sys.stderr)
        return 2
    if args.command == "release":
        for path in release(args.assignments, root):
            print(f"released {path.relative_to(root)}")
        return 0
    if args.command == "grade":
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
    if args.command == "feedback":
        for path in feedback(args.assignments, root):
            print(f"feedback {path.relative_to(root)}")
        return 0
    if args.command == "grades":
        table = export_grades(root, Path(args.out) if args.out else None)
        out = Path(args.out) if args.out else root / "build" / "grades"
        print(table.groupby("assignment")["score"].describe().to_string() if len(table) else "no grades yet")
        print(f"wrote {out / 'grades.csv'}, {out / 'grades_by_question.csv'} and {out / 'score_distribution.png'}")
        return 0
    if args.command == "roster":
        print(nbgrader(["db", "student", "import", str(Path(args.csv).resolve())], root).stdout.strip())
        shutil.copyfile(args.csv, root / ROSTER)   # grading checks submitted folders against it
        print(f"roster: {len(roster_of(root))} students in {root / ROSTER}")
        return 0
    if args.command == "due":
        print(nbgrader(["db", "assignment", "add", args.assignment, f"--duedate={args.date}"], root).stdout.strip())
        return 0
    return 2
