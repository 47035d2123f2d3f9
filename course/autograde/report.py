"""Reading the results: per-question scores, the status table, feedback and the grades export.

Used by: ``course.autograde.commands`` and the command line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import nbformat

from course.autograde.commands import db_path, list_assignments, nbgrader_forked
from course.autograde.notes import fact, notes_of
from course.paths import ROOT


def scores(assignment: str, root: Path = ROOT):
    """Per-question scores from the gradebook: DataFrame (student, notebook, question, auto_score,
    score, max_score, needs_manual_grade), sorted."""
    import pandas as pd
    from nbgrader.api import Gradebook, MissingEntry

    rows = []
    with Gradebook(f"sqlite:///{db_path(root)}") as gb:
        try:
            submissions = gb.find_assignment(assignment).submissions
        except MissingEntry:
            submissions = []
        for sub in submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    rows.append({"student": sub.student.id, "notebook": nb.name, "question": g.name,
                                 "auto_score": g.auto_score, "score": float(g.score),
                                 "max_score": float(g.max_score), "needs_manual_grade": bool(g.needs_manual_grade)})
    columns = ["student", "notebook", "question", "auto_score", "score", "max_score", "needs_manual_grade"]
    return pd.DataFrame(rows, columns=columns).sort_values(["student", "notebook", "question"]).reset_index(drop=True)


def status_table(assignment: str, students: Sequence[str], root: Path, staged_notes: dict | None = None,
                 failed: dict | None = None):
    """One row per student: score, max_score, status (ok / notes / needs review / FAILED), sandbox
    (``bwrap`` or ``unsandboxed``), review (what answer cells reached for) and the notes."""
    import pandas as pd

    per_q = scores(assignment, root)
    rows = []
    for student in students:
        mine = per_q[per_q.student == student]
        notes = list((staged_notes or {}).get(student, []))
        boxes, review = set(), set()
        for path in sorted((Path(root) / "autograded" / student / assignment).glob("*.ipynb")):
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception as err:  # noqa: BLE001
                notes.append(f"could not read the graded notebook {path.name}: {err}")
                continue
            notes += [n for n in notes_of(nb) if n not in notes]
            boxes.add(fact(nb, "sandbox", "unknown"))
            review |= set(fact(nb, "review", []))
        status = "ok" if not notes else "notes"
        if review:
            status = "needs review"
        if failed and student in failed:
            status, notes = "FAILED", [failed[student], *notes]
        elif mine.needs_manual_grade.any():
            status = "needs manual grade" if status == "ok" else status
        rows.append({"student": student, "score": round(float(mine.score.sum()), 4),
                     "max_score": float(mine.max_score.sum()), "status": status,
                     "sandbox": "/".join(sorted(boxes)) or "-", "review": ", ".join(sorted(review)),
                     "notes": " | ".join(notes)})
    return pd.DataFrame(rows, columns=["student", "score", "max_score", "status", "sandbox", "review", "notes"])


def print_table(assignment, table, seconds, jobs) -> None:
    import pandas as pd

    shown = table.assign(notes=[n if len(n) <= 90 else n[:87] + "..." for n in table.notes])
    with pd.option_context("display.max_colwidth", 90, "display.width", 250):
        print(f"\n{assignment}: {len(table)} submission(s) graded in {seconds:.1f} s with {jobs} job(s)")
        print(shown.to_string(index=False, justify="left"))
        print(f"(all notes: {table.attrs.get('csv', 'status.csv')})")
    bad = table[table.status == "FAILED"]
    if len(bad):
        print(f"\n{len(bad)} submission(s) could not be graded: {', '.join(bad.student)} (see the log)")


def feedback(assignments: Iterable[str] | None = None, root: Path = ROOT, log: Path | None = None) -> list[Path]:
    """``nbgrader generate_feedback`` (hidden tests removed, see HideHiddenTests); the HTML files."""
    root = Path(root)
    out = []
    for assignment in assignments or list_assignments(root):
        if not any((root / "autograded").glob(f"*/{assignment}")):
            print(f"{assignment}: nothing autograded yet, skipped")
            continue
        nbgrader_forked(["generate_feedback", assignment, "--force"], root, log=log)
        out += sorted((root / "feedback").glob(f"*/{assignment}/*.html"))
    return out


def by_question(root: Path = ROOT):
    """One row per student, one column per question (``A1_backprop:test_relu``), then one total
    per assignment (late penalties taken off): the shape an LMS gradebook imports."""
    import pandas as pd
    from nbgrader.api import Gradebook

    frames = [scores(a, root).assign(assignment=a) for a in list_assignments(root)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    per_q = pd.concat(frames)
    table = per_q.pivot_table(index="student", columns=["assignment", "question"], values="score", aggfunc="sum")
    table.columns = [f"{a}:{q}" for a, q in table.columns]
    with Gradebook(f"sqlite:///{db_path(root)}") as gb:
        for a in sorted(per_q.assignment.unique()):
            table[f"{a}:total"] = [_total(gb.find_submission(a, s)) if _has(gb, a, s) else float("nan")
                                   for s in table.index]
    return table.sort_index()


def _total(submission) -> float:
    """A submission's score after its late penalty."""
    return float(submission.score) - float(submission.late_submission_penalty or 0)


def _has(gb, assignment: str, student: str) -> bool:
    from nbgrader.api import MissingEntry

    try:
        gb.find_submission(assignment, student)
        return True
    except MissingEntry:
        return False


def export_grades(root: Path = ROOT, out_dir: Path | None = None):
    """``nbgrader export`` to ``<out_dir>/grades.csv`` plus ``score_distribution.png``.

    Returns the grades as a DataFrame (one row per student and assignment).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    root = Path(root)
    out_dir = Path(out_dir) if out_dir else root / "build" / "grades"
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / "grades.csv"
    nbgrader_forked(["export", f"--to={csv}"], root)
    table = pd.read_csv(csv)
    by_question(root).to_csv(out_dir / "grades_by_question.csv")
    assignments = sorted(table["assignment"].dropna().unique()) if len(table) else []
    fig, axes = plt.subplots(1, max(1, len(assignments)), figsize=(4 * max(1, len(assignments)), 3.2),
                             squeeze=False)
    for ax, name in zip(axes[0], assignments or ["(no grades yet)"]):
        part = table[table.assignment == name]
        top = float(part["max_score"].max()) if len(part) else 1.0
        ax.hist(part["score"], bins=min(20, max(5, int(top) + 1)), range=(0, top or 1), color="tab:blue",
                edgecolor="white")
        ax.set_title(f"{name} (n={len(part)})")
        ax.set_xlabel(f"score (of {top:g})")
        ax.set_ylabel("students")
    fig.suptitle("Score distribution")
    fig.tight_layout()
    fig.savefig(out_dir / "score_distribution.png", dpi=100)
    plt.close(fig)
    return table
