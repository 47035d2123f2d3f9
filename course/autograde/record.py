"""Recording graded notebooks in the real gradebook while the other students are still graded.

The parallel grader's workers grade and never write the gradebook (``worker``). As each job
ends, ``Recorder.graded`` hashes its graded notebooks, copies them into a batch folder and
checks the copy against the hash; a batch is recorded by one ``nbgrader autograde`` pass that
runs no code (``SaveAutoGrades``, ``AssignLatePenalties``, ``CheckCellMetadata``), forked from
the warm server (``pool``), in the background, one pass at a time: the gradebook has one writer.
A pass starts when none is running and ``batch`` students are waiting, or any are once fewer
jobs remain than run at a time (a core is free by then); ``finish`` records the rest once
grading is over. The scores are those of a serial ``nbgrader autograde`` run.

Used by: ``course.autograde.grade``.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from course.autograde.pool import start_job

#: the preprocessors of a recording pass (nbgrader's own; the notebooks are graded already)
RECORD_OPTIONS = ["--Autograde.sanitize_preprocessors=[]",
                  "--Autograde.autograde_preprocessors=['nbgrader.preprocessors.SaveAutoGrades', "
                  "'nbgrader.preprocessors.AssignLatePenalties', 'nbgrader.preprocessors.CheckCellMetadata']"]


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every notebook below ``folder`` (relative path -> hex digest)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*.ipynb"))}


class Recorder:
    """Records the students of one parallel grading run (see the module docstring).

    Args:
        assignment, root: the assignment and the course folder.
        work: the run's scratch folder (``build/autograde/<A>``): jobs in ``work/jobs/<student>``,
            batches in ``work/executed/<n>``, nbgrader's output in ``work/record.log``.
        env: the environment of the nbgrader passes.
        batch: how many graded students start a pass while grading goes on.
        limit: the wall-clock limit of one student's job (for the note of a stopped one).
        students, jobs: how many students the run grades, how many at a time (0: unknown).
    """

    def __init__(self, assignment: str, root: Path, work: Path, env: dict, batch: int = 8,
                 limit: float | None = None, students: int = 0, jobs: int = 0):
        self.assignment, self.root, self.work, self.env = assignment, Path(root), Path(work), env
        self.batch, self.limit = max(1, batch), limit
        self.left, self.jobs = students, jobs   # jobs not yet ended; the pool's width
        self.waiting: list[str] = []          # checked copies not yet in a pass
        self.failed: dict[str, str] = {}      # student -> why it was not recorded
        self.passes = 0
        self.errors: list[str] = []           # passes that failed (raised by ``finish``)
        self._running = None                  # (process, students) of the pass under way

    def graded(self, student: str, code: int | None) -> None:
        """One job ended (exit ``code``; None: stopped after ``limit`` seconds): hash its graded
        notebooks, copy them for recording, check the copy; maybe start a pass."""
        self.left -= 1
        out = self.work / "jobs" / student / "autograded" / student / self.assignment
        if code is None:
            self.failed[student] = f"stopped after {self.limit:g} s (student_timeout)"
        elif not out.exists():
            self.failed[student] = (f"nbgrader could not grade it (see "
                                    f"{self.work / 'jobs' / student / 'autograde.log'})")
        else:
            hashes = digest(out)
            copy = self.work / "executed" / "next" / student / self.assignment
            shutil.copytree(out, copy)
            if digest(copy) != hashes:
                shutil.rmtree(copy.parent)
                self.failed[student] = "its graded notebook changed after grading ended; not recorded"
            else:
                self.waiting.append(student)
        self._step(final=False)

    def finish(self) -> dict[str, str]:
        """Record everyone still waiting; returns the students that were not recorded and why.
        Raises ``RuntimeError`` (with nbgrader's output) when a pass failed."""
        while self._running is not None or self.waiting:
            if self._running is not None:
                self._running[0].join()
            self._step(final=True)
        if self.errors:
            log = self.work / "record.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"nbgrader could not record {'; '.join(self.errors)}; {log}:\n{tail}")
        return self.failed

    def _step(self, final: bool) -> None:
        if self._running is not None:
            proc, students = self._running
            if proc.exitcode is None:
                return
            self._running = None
            if proc.exitcode != 0:
                self.errors.append(f"{', '.join(students)} (exit {proc.exitcode})")
        draining = 0 < self.jobs and self.left < self.jobs
        if not self.waiting or (len(self.waiting) < self.batch and not (final or draining)):
            return
        self.passes += 1
        folder = self.work / "executed" / str(self.passes)
        (self.work / "executed" / "next").rename(folder)
        students, self.waiting = self.waiting, []
        args = ["autograde", self.assignment, "--force", f"--CourseDirectory.submitted_directory={folder}",
                *RECORD_OPTIONS]
        log = self.work / "record.log"
        with open(log, "a") as f:
            f.write(f"$ nbgrader {' '.join(args)}\n")
        task = {"args": args, "cwd": str(self.root), "env": self.env, "log": str(log)}
        self._running = (start_job(task), students)
