"""Grading the assignments with nbgrader: release, parallel autograde, feedback, grades.

nbgrader is the grading engine; this module adds what a course with many students needs on top of
it. The instructor's commands (``make assignments / autograde / feedback / grades``) call::

    python -m course.autograde release  [A ...]                 solutions/ -> assignments/
    python -m course.autograde grade    [A ...] [--jobs N] [--student S ...] [--timeout SEC]
    python -m course.autograde feedback [A ...]                 autograded/ -> feedback/ (HTML)
    python -m course.autograde grades   [--out build/grades]    CSV export + score histogram
    python -m course.autograde bench    A [--n 20] [--jobs 2]   serial vs parallel timing

``A`` is an assignment id (a folder of ``solutions/``, e.g. ``A1_backprop``); without one, every
assignment is processed. Everything runs from the course root (the folder of
``nbgrader_config.py``); ``--root`` points elsewhere.

Grading, step by step (``grade``):

1. **Stage** each ``submitted/<student>/<A>/`` into ``build/autograde/<A>/`` (submissions stay
   untouched). A notebook that is not valid JSON (or not a notebook) is replaced by the blank
   released notebook, with a note, so that it scores 0 and its feedback says why; one that
   breaks the notebook schema is repaired.
2. **Grade** with nbgrader's own command line. ``--jobs 1`` runs ``nbgrader autograde <A>`` once,
   as nbgrader always does. ``--jobs N`` grades N students at a time, each one by nbgrader's
   command-line app in its own process (forked from a server that imported nbgrader once, which
   saves seconds per student) and its own scratch course folder with a private copy of the
   gradebook, so no two processes ever write the same SQLite file ("database is locked" cannot
   happen). A second, quick ``nbgrader autograde`` pass that runs no code then records the
   executed notebooks in the real gradebook with nbgrader's own SaveAutoGrades, one writer at a
   time: the scores are exactly those of the serial run.
3. **Report**: a table of every submission (score, status, what went wrong), printed and saved as
   ``build/autograde/<A>/status.csv``.

The hardening lives in nbgrader preprocessors that ``nbgrader_config.py`` switches on, so that a
plain ``nbgrader autograde`` grades the same way:

* ``SafeExecute``: nbgrader's ``Execute`` in the grading kernel (``course.kernels``: memory cap,
  one thread). When a cell kills the kernel (``os._exit``, ``exit()``, a segfault, the memory
  cap) or keeps running after the timeout's interrupt, the kernel is restarted, the cells above are
  re-run, and grading continues after that cell: the notebook keeps the points its other parts
  earn. A read-only cell (setup, tests) that times out or dies gets one more try instead.
* ``RestoreCellMetadata``: cells that lost their nbgrader metadata (an editor that drops it) get
  it back from the released notebook (by cell id, else by content and position); deleted and
  edited test cells are noted (nbgrader restores them from the gradebook).
* ``GradingNotes``: a "Grading notes" markdown cell at the top of the graded notebook lists what
  went wrong, so formgrader and the student's feedback say it.
* ``HideHiddenTests``: feedback shows the test cells without their hidden part, and errors in test
  cells without a traceback (a traceback would quote the hidden lines).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Iterable, Sequence

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTES = "course_grading"          # notebook metadata key holding {"notes": [...]}
NOTES_CELL = "course_grading_notes"  # cell metadata marker of the "Grading notes" cell


# ==================================================================================================
# nbgrader preprocessors (named in nbgrader_config.py)
# ==================================================================================================
def add_note(nb, text: str) -> None:
    """Append one line to the notebook's grading notes (kept in ``nb.metadata.course_grading``)."""
    notes = nb.metadata.setdefault(NOTES, {}).setdefault("notes", [])
    if text not in notes:
        notes.append(text)


def notes_of(nb) -> list[str]:
    """The grading notes a notebook carries (empty list when none)."""
    return list(nb.get("metadata", {}).get(NOTES, {}).get("notes", []))


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _error_output(ename: str, evalue: str):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _coursedir(preprocessor):
    """The CourseDirectory of the nbgrader converter running ``preprocessor`` (or None)."""
    exporter = getattr(preprocessor, "parent", None)
    return getattr(getattr(exporter, "parent", None), "coursedir", None)


def _where(cell, number: int | None = None) -> str:
    """How notes name a cell: "test cell 'x'", "answer cell 'y'", "read-only cell 'z'", "code cell 7"."""
    gid = _grade_id(cell)
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if gid and meta.get("solution"):
        return f"answer cell '{gid}'"
    if gid and meta.get("grade"):
        return f"test cell '{gid}'"
    if gid:
        return f"read-only cell '{gid}'"
    return f"code cell {number}" if number else "a code cell"


_GRADER_ERRORS = ("CellTimeoutError", "KernelDied", "KernelRestarted", "NotRun")


def _describe_error(out) -> str:
    ename, evalue = out.get("ename", "Error"), (out.get("evalue") or "").strip()
    if ename == "CellTimeoutError":
        return "ran past the time limit and was interrupted (an endless loop?)"
    evalue = evalue.splitlines()[0] if evalue else ""
    if len(evalue) > 200 and ename not in _GRADER_ERRORS:
        evalue = evalue[:200] + "..."
    return f"{ename}: {evalue}" if evalue else ename


PREPROCESSORS = ("SafeExecute", "RestoreCellMetadata", "GradingNotes", "HideHiddenTests", "KernelRestart")


def __getattr__(name: str):
    """The preprocessors are defined on first use: importing nbgrader takes seconds, and the
    command line (``python -m course.autograde``) only needs them inside nbgrader's processes."""
    if name in PREPROCESSORS:
        _define_preprocessors()
        return globals()[name]
    raise AttributeError(f"module 'course.autograde' has no attribute {name!r}")


def _define_preprocessors() -> None:
    global SafeExecute, RestoreCellMetadata, GradingNotes, HideHiddenTests, KernelRestart
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbgrader import utils as nbutils
    from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor
    from traitlets import Bool, Integer, Unicode

    if "SafeExecute" in globals():
        return

    class KernelRestart(Exception):
        """The kernel has to be replaced (it no longer answers)."""

    class SafeExecute(Execute):
        """nbgrader's ``Execute``, hardened: a dead or hung kernel costs one cell, not the notebook.

        For each code cell in order: run it with nbgrader's per-cell timeout (an interrupt ends
        most endless loops; the cell gets a ``CellTimeoutError`` and scores as an error). If the
        kernel dies during the cell, or still does not answer ``probe_timeout`` seconds after the
        interrupt, the cell gets an error output saying so, a fresh kernel is started, the cells
        above are re-run (their outputs are kept from the first run) and execution goes on with the
        next cell. A read-only cell (the course's setup and test code) that times out or dies is
        instead run once more on a fresh kernel: on a busy machine an import can be slow, and a
        test cell may have called learner code that crashed. After ``max_restarts`` restarts the
        remaining cells are marked as not run.
        """

        max_restarts = Integer(3, help="Kernel restarts allowed per notebook before giving up.").tag(config=True)
        probe_timeout = Integer(10, help="Seconds a timed-out kernel has to answer again.").tag(config=True)

        def create_kernel_manager(self):
            """Like nbclient's, but the course's grading kernel is found without being installed."""
            from course import kernels

            if self.kernel_name != kernels.KERNEL_NAME:
                return super().create_kernel_manager()
            self.km = self.kernel_manager_class(kernel_name=self.kernel_name, config=self.config,
                                                kernel_spec_manager=kernels.spec_manager())
            return self.km

        def preprocess(self, nb, resources=None, km=None):
            NotebookClient.__init__(self, nb, km)
            self.reset_execution_trackers()
            self._check_assign_resources(resources)
            skipped: set[int] = set()
            retried: set[int] = set()
            resume, restarts = 0, 0
            while True:
                current = None
                try:
                    with self.setup_kernel():
                        info = self.wait_for_reply(self.kc.kernel_info())
                        self.nb.metadata["language_info"] = info["content"]["language_info"]
                        for index, cell in enumerate(self.nb.cells):
                            if index in skipped:
                                continue
                            current = index
                            if index < resume:
                                self._run(copy.deepcopy(cell), resources, index, replay=True)
                            else:
                                self._run(cell, resources, index)
                    break
                except (DeadKernelError, KernelRestart) as err:
                    if current is None:
                        raise  # the kernel does not even start: nbgrader reports the failure
                    restarts += 1
                    cell = self.nb.cells[current]
                    if self._trusted(cell) and current not in retried:
                        # a read-only cell is the course's code: it was slow (a busy machine),
                        # or learner code it called crashed. Run it once more on a fresh kernel.
                        retried.add(current)
                        cell.outputs = []
                        add_note(self.nb, f"{_where(cell)}: {self._what(err)}; it was run again on a "
                                          "fresh kernel")
                        resume = current
                    else:
                        self._explain(cell, err)
                        skipped.add(current)
                        resume = current + 1
                    self.shutdown_kernel = "graceful"
                    if restarts > self.max_restarts:
                        self._give_up(resume)
                        break
            self.set_widgets_metadata()
            return self.nb, self.resources

        def _run(self, cell, resources, index: int, replay: bool = False) -> None:
            try:
                if replay:
                    self.execute_cell(cell, index, store_history=False)
                else:
                    self.preprocess_cell(cell, resources, index)
            except CellTimeoutError as err:  # the interrupt did not end the cell within iopub_timeout
                self.shutdown_kernel = "immediate"
                raise KernelRestart("did not stop when interrupted") from err
            timed_out = any(o.get("output_type") == "error" and o.get("ename") == self.error_on_timeout["ename"]
                            for o in cell.get("outputs", []))
            if timed_out and self._trusted(cell):  # the course's own code: retried on a fresh kernel
                self.shutdown_kernel = "immediate"
                raise KernelRestart("was interrupted")
            if timed_out and not self._responsive():
                self.shutdown_kernel = "immediate"
                raise KernelRestart("did not stop when interrupted")

        def _responsive(self) -> bool:
            """True when the kernel answers a no-op within ``probe_timeout`` seconds."""
            saved = self.timeout
            self.timeout = self.probe_timeout
            try:
                reply = self.wait_for_reply(self.kc.execute("pass", silent=True, store_history=False))
            finally:
                self.timeout = saved
            return reply is not None

        @staticmethod
        def _trusted(cell) -> bool:
            """A read-only nbgrader cell (setup, tests): nbgrader restored the course's source."""
            meta = cell.get("metadata", {}).get("nbgrader", {})
            return bool(meta.get("locked")) and not meta.get("solution")

        def _what(self, err: Exception) -> str:
            if isinstance(err, DeadKernelError):
                return ("the Python kernel died while running this cell (the code ended the process: "
                        "os._exit(), exit(), a crash, or the grading memory limit)")
            return f"this cell ran past the {self.timeout} s limit and {err}"

        def _explain(self, cell, err: Exception) -> None:
            ename = "KernelDied" if isinstance(err, DeadKernelError) else "KernelRestarted"
            cell.setdefault("outputs", []).append(_error_output(
                ename, f"{self._what(err)}; the kernel was restarted, the cells above were run again and "
                       "grading went on with the next cell"))

        def _give_up(self, start: int) -> None:
            for cell in self.nb.cells[start:]:
                if cell.cell_type == "code" and cell.source.strip():
                    cell.outputs = [_error_output(
                        "NotRun", f"not run: the kernel had to be restarted {self.max_restarts + 1} times in this notebook")]

    class RestoreCellMetadata(NbGraderPreprocessor):
        """Give back nbgrader metadata that a submission lost, and note deleted or edited test cells.

        Runs before nbgrader's ``OverwriteCells``. Reference: the released notebook
        (``<release_directory>/<assignment>/<notebook>.ipynb``). A released grade, solution or locked
        cell whose ``grade_id`` is missing from the submission is looked up by cell id, then (for
        cells students do not edit) by identical source, then (answer cells) by position between
        matched neighbours; a match gets the released metadata back. What cannot be matched is
        left to nbgrader: a missing test cell is put back from the gradebook when
        ``OverwriteCells.add_missing_cells`` is on (nbgrader_config.py), a missing answer scores 0.
        """

        release_directory = Unicode("", help="Folder of released assignments (default: the course's).").tag(config=True)

        def _released(self, resources):
            coursedir = _coursedir(self)
            folder = self.release_directory or (coursedir.release_directory if coursedir else "release")
            root = Path(coursedir.root) if coursedir else Path.cwd()
            info = resources["nbgrader"]
            path = root / folder / info["assignment"] / f"{info['notebook']}.ipynb"
            if not path.exists():
                self.log.warning("No released notebook at %s: cannot restore cell metadata", path)
                return None
            return nbformat.read(path, as_version=4)

        def preprocess(self, nb, resources):
            released = self._released(resources)
            if released is None:
                return nb, resources
            refs = [(i, c) for i, c in enumerate(released.cells) if _grade_id(c)]
            known = {_grade_id(c) for _, c in refs}
            present = {_grade_id(c) for c in nb.cells if _grade_id(c) in known}
            missing = [(i, c) for i, c in refs if _grade_id(c) not in present]
            if missing:
                restored = self._restore(nb, released, missing, known)
                if restored:
                    add_note(nb, f"{len(restored)} cell(s) had lost their grading metadata "
                                 f"({', '.join(restored)}); it was restored from the released notebook")
            by_id = {_grade_id(c): c for c in nb.cells if _grade_id(c)}
            add_back = bool(self.config.get("OverwriteCells", {}).get("add_missing_cells", False))
            for _, ref in refs:
                gid, meta = _grade_id(ref), ref.metadata.nbgrader
                cell = by_id.get(gid)
                if cell is None:
                    if meta.get("grade") and not meta.get("solution"):
                        add_note(nb, f"test cell '{gid}' was missing from the submission; "
                                     + ("it was put back from the course's copy and graded"
                                        if add_back else "it scores 0"))
                    else:
                        add_note(nb, f"cell '{gid}' was missing from the submission")
                elif meta.get("locked") and "checksum" in meta and cell.cell_type == ref.cell_type:
                    try:
                        edited = nbutils.compute_checksum(cell) != meta["checksum"]
                    except Exception:  # noqa: BLE001 - malformed metadata: OverwriteCells fixes it
                        edited = True
                    if edited:
                        add_note(nb, f"read-only cell '{gid}' was edited; the original was restored")
            return nb, resources

        def _restore(self, nb, released, missing, known) -> list[str]:
            """Match released cells to unlabelled submitted cells; returns the grade ids restored."""
            free = [j for j, c in enumerate(nb.cells) if _grade_id(c) not in known]
            mapping: dict[int, int] = {}  # released index -> submitted index

            def take(i: int, j: int) -> None:
                mapping[i] = j
                free.remove(j)

            ids = {}
            for j in free:
                ids.setdefault(nb.cells[j].get("id"), j)
            for i, ref in enumerate(released.cells):  # 1. same cell id (nbformat >= 4.5)
                j = ids.get(ref.get("id"))
                if ref.get("id") and j in free and nb.cells[j].cell_type == ref.cell_type:
                    take(i, j)
            for i, ref in enumerate(released.cells):  # 2. same source, for cells students keep as is
                meta = ref.metadata.get("nbgrader", {})
                if i in mapping or meta.get("solution"):
                    continue
                for j in free:
                    if nb.cells[j].cell_type == ref.cell_type and nb.cells[j].source.strip() == ref.source.strip():
                        take(i, j)
                        break
            for j, cell in enumerate(nb.cells):  # anchors: cells already labelled
                gid = _grade_id(cell)
                if gid in known:
                    for i, ref in enumerate(released.cells):
                        if _grade_id(ref) == gid:
                            mapping.setdefault(i, j)
            for i, ref in missing:  # 3. answer cells: the one slot between matched neighbours
                if i in mapping:
                    continue
                before = [k for k in mapping if k < i]
                after = [k for k in mapping if k > i]
                if before and after and i - max(before) == 1 and min(after) - i == 1:
                    j = mapping[max(before)] + 1
                    if j in free and j < mapping[min(after)] and nb.cells[j].cell_type == ref.cell_type:
                        take(i, j)
            restored = []
            for i, ref in missing:
                j = mapping.get(i)
                if j is None or _grade_id(nb.cells[j]) in known:
                    continue
                cell = nb.cells[j]
                cell.metadata["nbgrader"] = copy.deepcopy(ref.metadata["nbgrader"])
                for flag in ("deletable", "editable"):
                    if flag in ref.metadata:
                        cell.metadata[flag] = ref.metadata[flag]
                restored.append(_grade_id(ref))
            return restored

    class GradingNotes(NbGraderPreprocessor):
        """Put a "Grading notes" markdown cell at the top of a graded notebook when something went wrong.

        The notes: those left by the steps before (staging, ``RestoreCellMetadata``) plus one line per
        code cell that ended in an error (a test cell's error costs its points). They are also kept
        in ``nb.metadata.course_grading.notes`` for the status table. Clean notebooks are unchanged.
        """

        def preprocess(self, nb, resources):
            nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get(NOTES_CELL)]
            number = 0
            for cell in nb.cells:
                if cell.cell_type != "code":
                    continue
                number += 1
                errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                if errors:
                    # the grader's own errors (timeout, dead kernel) say more than a KeyboardInterrupt
                    ours = [o for o in errors if o.get("ename") in _GRADER_ERRORS]
                    add_note(nb, f"{_where(cell, number)}: {_describe_error((ours or errors)[0])}")
            notes = notes_of(nb)
            if notes:
                text = ("### Grading notes\n\nThe autograder ran this notebook and noticed:\n\n"
                        + "\n".join(f"- {n}" for n in notes)
                        + "\n\nA test cell that ends in an error scores 0; the scores are in each test cell.")
                cell = nbformat.v4.new_markdown_cell(text)
                cell.metadata[NOTES_CELL] = True
                nb.cells.insert(0, cell)
            return nb, resources

    class HideHiddenTests(ClearHiddenTests):
        """For feedback: drop the hidden-test regions and reduce test-cell errors to one line.

        A traceback quotes the lines around the failure, which may be hidden tests, so an error in a
        test cell is shown as ``ename: evalue`` only. Cells of the student's own code keep theirs.
        """

        enforce_metadata = Bool(False, help="Hidden tests outside grade cells are removed too.").tag(config=True)

        def preprocess_cell(self, cell, resources, cell_index):
            cell, resources = super().preprocess_cell(cell, resources, cell_index)
            if cell.cell_type == "code" and nbutils.is_grade(cell) and not nbutils.is_solution(cell):
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
            return cell, resources


# ==================================================================================================
# Running nbgrader
# ==================================================================================================
def _env(extra: dict | None = None) -> dict:
    """Environment for nbgrader: this Python's bin folder first (nbgrader calls ``alembic``)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("MPLBACKEND", "Agg")
    env.update(extra or {})
    return env


def nbgrader(args: Sequence[str], root: Path = ROOT, env: dict | None = None, check: bool = True,
             log: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` (the real command line) in the course folder ``root``.

    Output goes to ``log`` when given (else it is captured). Raises ``RuntimeError`` with the
    output's tail when ``check`` and nbgrader exits non-zero.
    """
    cmd = [sys.executable, "-m", "nbgrader", *args]
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as f:
            f.write(f"$ nbgrader {' '.join(args)}\n")
            f.flush()
            proc = subprocess.run(cmd, cwd=root, env=env or _env(), stdout=f, stderr=subprocess.STDOUT, text=True)
        proc.stdout = Path(log).read_text(errors="replace")
    else:
        proc = subprocess.run(cmd, cwd=root, env=env or _env(), capture_output=True, text=True)
        proc.stdout = (proc.stdout or "") + (proc.stderr or "")
    if check and proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {proc.returncode}) in {root}:\n{tail}")
    return proc


def nbgrader_forked(args: Sequence[str], root: Path = ROOT, env: dict | None = None, check: bool = True,
                    log: Path | None = None) -> int:
    """Like ``nbgrader()``, but nbgrader's command line runs in a process forked from a server
    that imported nbgrader once (starting nbgrader costs seconds of CPU each time).

    Returns the exit code; with ``check``, a non-zero one raises ``RuntimeError`` with the log's tail.
    """
    import tempfile

    if log is None:
        handle, name = tempfile.mkstemp(prefix="nbgrader-", suffix=".log")
        os.close(handle)
        path, temporary = Path(name), True
    else:
        path, temporary = Path(log), False
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(f"$ nbgrader {' '.join(args)}\n")
    code = _run_pool([{"key": "run", "args": list(args), "cwd": str(root), "env": env or _env(),
                       "log": str(path)}], 1, None)["run"]
    tail = "\n".join(path.read_text(errors="replace").splitlines()[-30:])
    if temporary:
        path.unlink()
    if check and code != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {code}) in {root}:\n{tail}")
    return code


def _config_dirs(root: Path) -> tuple[str, str]:
    """(source, release) directory names of the course at ``root`` (from its nbgrader_config.py)."""
    from traitlets.config.loader import PyFileConfigLoader

    source, release = "source", "release"
    path = Path(root) / "nbgrader_config.py"
    if path.exists():
        cfg = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
        source = cfg.CourseDirectory.get("source_directory", source)
        release = cfg.CourseDirectory.get("release_directory", release)
    return source, release


def list_assignments(root: Path = ROOT) -> list[str]:
    """Assignment ids: the folders of the source directory that hold a notebook."""
    source, _ = _config_dirs(root)
    folder = Path(root) / source
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) if folder.exists() else []


def _db_path(root: Path) -> Path:
    return Path(root) / "gradebook.db"


# ==================================================================================================
# Release
# ==================================================================================================
def release(assignments: Iterable[str] | None = None, root: Path = ROOT, log: Path | None = None) -> list[Path]:
    """``nbgrader generate_assignment`` for each assignment, then point the Colab badges at the
    released files. Returns the released notebooks. Also records the assignments in the gradebook."""
    from course import notebooks

    root = Path(root)
    source, rel = _config_dirs(root)
    out = []
    for assignment in assignments or list_assignments(root):
        nbgrader_forked(["generate_assignment", assignment, "--force"], root, log=log)
        for path in sorted((root / rel / assignment).glob("*.ipynb")):
            _fix_badge(path, f"{source}/{assignment}/{path.name}", f"{rel}/{assignment}/{path.name}", notebooks)
            out.append(path)
    return out


def _fix_badge(path: Path, source_rel: str, release_rel: str, notebooks) -> None:
    """Make cell 0's Colab badge point at the released notebook itself."""
    nb = nbformat.read(path, as_version=4)
    if nb.cells and nb.cells[0].cell_type == "markdown":
        text = nb.cells[0].source
        new = text.replace(notebooks.badge(source_rel), notebooks.badge(release_rel))
        if new == text:  # a badge for another repository or branch: rewrite whatever is there
            new = re.sub(r"(colab\.research\.google\.com/github/[^)]*?/blob/[^/)]+/)" + re.escape(source_rel),
                         lambda m: m.group(1) + release_rel, text)
        if new != text:
            cell = nb.cells[0]
            cell.source = new
            if "checksum" in cell.metadata.get("nbgrader", {}):  # keep a locked cell self-consistent
                from nbgrader.utils import compute_checksum

                cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
            nbformat.write(nb, path)


# ==================================================================================================
# Staging submissions
# ==================================================================================================
def read_submission(path: Path):
    """Read a submitted notebook: ``(notebook, None)``, or ``(None, reason)`` when it cannot be read.

    A notebook that is JSON but breaks the notebook schema (e.g. written by another tool) is
    repaired: each cell keeps its type, source, metadata and id; outputs are dropped (nbgrader
    clears them anyway). Only when that fails too does the reason say why.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        return None, f"the file is not text ({err.reason})"
    except json.JSONDecodeError as err:
        return None, f"the file is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return None, "the file is JSON but not a notebook (no list of cells)"
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
        return nb, None
    except Exception:  # noqa: BLE001 - try to repair below
        pass
    try:
        cells = []
        for cell in raw["cells"]:
            kind = cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown", "raw") else "raw"
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
            new = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
                   "raw": nbformat.v4.new_raw_cell}[kind](source, metadata=meta)
            if isinstance(cell.get("id"), str) and re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", cell["id"]):
                new["id"] = cell["id"]
            cells.append(new)
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        nb = nbformat.v4.new_notebook(cells=cells, metadata=meta)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001
        return None, f"the notebook is malformed ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
    add_note(nb, f"{Path(path).name} broke the notebook format; it was repaired (outputs dropped) and graded")
    return nb, None


def stage(assignment: str, students: Sequence[str], root: Path, dest: Path) -> dict[str, list[str]]:
    """Copy ``submitted/<s>/<assignment>`` to ``dest/<s>/<assignment>`` for each student.

    A notebook that is not valid JSON (or not a notebook) is replaced by the released one,
    carrying a note saying why, so it scores 0 and its feedback explains; one that breaks the
    notebook schema is repaired (``read_submission``). Returns ``{student: [notes]}``.
    """
    _, rel = _config_dirs(root)
    notes = {}
    for student in students:
        src = Path(root) / "submitted" / student / assignment
        out = dest / student / assignment
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(src, out)
        notes[student] = []
        for path in sorted(out.glob("*.ipynb")):
            nb, why = read_submission(path)
            if nb is not None:
                if notes_of(nb):
                    nbformat.write(nb, path)
                    notes[student] += notes_of(nb)
                continue
            blank = Path(root) / rel / assignment / path.name
            text = f"{path.name} could not be read: {why}. It was graded as the blank released notebook."
            notes[student].append(text)
            if blank.exists():
                nb = nbformat.read(blank, as_version=4)
                add_note(nb, text)
                nbformat.write(nb, path)
            else:
                path.unlink()
    return notes


def submitted_students(assignment: str, root: Path = ROOT) -> list[str]:
    folder = Path(root) / "submitted"
    return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir()) if folder.exists() else []


def ensure_in_gradebook(assignment: str, root: Path = ROOT, log: Path | None = None) -> None:
    """Make sure the gradebook knows ``assignment`` (its test cells); if not, generate it into a
    scratch release folder (the committed ``assignments/`` is left alone)."""
    from nbgrader.api import Gradebook, MissingEntry

    db = _db_path(root)
    if db.exists():
        with Gradebook(f"sqlite:///{db}") as gb:
            try:
                if gb.find_assignment(assignment).notebooks:
                    return
            except MissingEntry:
                pass
    scratch = Path(root) / "build" / "autograde" / "_release"
    nbgrader_forked(["generate_assignment", assignment, "--force",
              f"--CourseDirectory.release_directory={scratch}"], root, log=log)


# ==================================================================================================
# Autograde, serial or parallel
# ==================================================================================================
def _run_nbgrader_here(args: list[str], cwd: str, env: dict, log: str) -> None:
    """Body of one grading process: nbgrader's command line, run in this (forked) process."""
    os.setsid()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.argv = ["nbgrader", *args]
    from nbgrader.apps.nbgraderapp import NbGraderApp

    try:
        NbGraderApp.launch_instance(argv=args)
        code = 0
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    except BaseException:  # noqa: BLE001 - report, never hang
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


_CONTEXT = None


def _context():
    """A forkserver that has imported nbgrader once: each grading process forks from it at once."""
    global _CONTEXT
    if _CONTEXT is None:
        import multiprocessing as mp

        _CONTEXT = mp.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["course.autograde", "nbgrader.apps.nbgraderapp"])
    return _CONTEXT


@contextlib.contextmanager
def _bare_main():
    """Hide ``__main__`` while a worker starts: multiprocessing would re-run it in the worker, and
    when it is this module (``python -m course.autograde``) runpy warns that it runs twice. The
    workers need nothing from ``__main__``."""
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = saved


def _descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (from /proc; empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill_tree(proc) -> None:
    for pid in [*_descendants(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    proc.join(5)


def _run_pool(tasks: list[dict], jobs: int, limit: float | None) -> dict[str, int | None]:
    """Run ``tasks`` (dicts with key, args, cwd, env, log) ``jobs`` at a time; exit codes by key.

    A task still running after ``limit`` seconds is killed with its kernel (code None).
    """
    ctx = _context()
    todo, running, codes = list(tasks), {}, {}
    while todo or running:
        while todo and len(running) < jobs:
            task = todo.pop(0)
            proc = ctx.Process(target=_run_nbgrader_here, args=(task["args"], task["cwd"], task["env"], task["log"]),
                               daemon=False)
            with _bare_main():
                proc.start()
            running[task["key"]] = (proc, time.monotonic())
        time.sleep(0.2)
        for key, (proc, start) in list(running.items()):
            if proc.exitcode is not None:
                codes[key] = proc.exitcode
                del running[key]
            elif limit and time.monotonic() - start > limit:
                _kill_tree(proc)
                codes[key] = None
                del running[key]
    return codes


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
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    students = sorted(students) if students else submitted_students(assignment, root)
    if not students:
        raise FileNotFoundError(f"No submissions of {assignment} in {root / 'submitted'} "
                                f"(expected submitted/<student>/{assignment}/*.ipynb).")
    ensure_in_gradebook(assignment, root, log=log)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    run_env = _env({"COURSE_GRADING_THREADS": str(threads), **(env or {})})
    options = list(extra_args) + ([f"--Execute.timeout={int(timeout)}"] if timeout else [])
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
                                            student_timeout, log)
    seconds = time.perf_counter() - start
    table = status_table(assignment, students, root, notes, failed)
    table.to_csv(work / "status.csv", index=False)
    table.attrs["csv"] = str(work / "status.csv")
    if not quiet:
        _print_table(assignment, table, seconds, jobs)
    table.attrs["seconds"] = seconds
    return table


def _autograde_parallel(assignment, students, root, work, jobs, options, env, student_timeout, log):
    """Phase 1: grade each student in a scratch course folder, ``jobs`` at a time. Phase 2: record
    the executed notebooks in the real gradebook with one quick nbgrader pass (no execution)."""
    source, rel = _config_dirs(root)
    db = _db_path(root)
    tasks, notes = [], {}
    for student in students:
        scratch = work / "jobs" / student
        scratch.mkdir(parents=True)
        notes.update(stage(assignment, [student], root, scratch / "submitted"))
        shutil.copy(db, scratch / "gradebook.db")
        args = ["autograde", assignment, "--force", "--student", student,
                f"--CourseDirectory.root={scratch}", f"--CourseDirectory.db_url=sqlite:///{scratch / 'gradebook.db'}",
                f"--CourseDirectory.source_directory={root / source}",
                f"--CourseDirectory.release_directory={root / rel}", *options]
        tasks.append({"key": student, "args": args, "cwd": str(root), "env": env, "log": str(scratch / "autograde.log")})
    codes = _run_pool(tasks, jobs, student_timeout)
    executed = work / "executed"
    failed = {}
    for student in students:
        out = work / "jobs" / student / "autograded" / student / assignment
        if codes.get(student) is None:
            failed[student] = f"stopped after {student_timeout:g} s (student_timeout)"
        elif not out.exists():
            failed[student] = f"nbgrader could not grade it (see {work / 'jobs' / student / 'autograde.log'})"
        else:
            shutil.copytree(out, executed / student / assignment)
    with open(log, "a") as f:
        for student in students:
            f.write((work / "jobs" / student / "autograde.log").read_text(errors="replace")
                    if (work / "jobs" / student / "autograde.log").exists() else "")
    if executed.exists():
        record = ["autograde", assignment, "--force", f"--CourseDirectory.submitted_directory={executed}",
                  "--Autograde.sanitize_preprocessors=[]",
                  "--Autograde.autograde_preprocessors=['nbgrader.preprocessors.SaveAutoGrades', "
                  "'nbgrader.preprocessors.AssignLatePenalties', 'nbgrader.preprocessors.CheckCellMetadata']"]
        nbgrader_forked(record, root, env=env, log=work / "record.log")
    if failed:
        _record_failures(assignment, list(failed), root)
    return notes, failed


def _record_failures(assignment: str, students: list[str], root: Path) -> None:
    """Create the submissions nbgrader could not grade (no scores: formgrader shows them as
    needing manual grading), as a failed serial ``nbgrader autograde`` leaves them."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{_db_path(root)}") as gb:
        for student in students:
            gb.update_or_create_student(student)
            gb.update_or_create_submission(assignment, student)


# ==================================================================================================
# Reading results
# ==================================================================================================
def scores(assignment: str, root: Path = ROOT):
    """Per-question scores from the gradebook: DataFrame (student, notebook, question, auto_score,
    score, max_score, needs_manual_grade), sorted."""
    import pandas as pd
    from nbgrader.api import Gradebook, MissingEntry

    rows = []
    with Gradebook(f"sqlite:///{_db_path(root)}") as gb:
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
    """One row per student: score, max_score, status (ok / notes / FAILED) and the notes."""
    import pandas as pd

    per_q = scores(assignment, root)
    rows = []
    for student in students:
        mine = per_q[per_q.student == student]
        notes = list((staged_notes or {}).get(student, []))
        for path in sorted((Path(root) / "autograded" / student / assignment).glob("*.ipynb")):
            try:
                notes += [n for n in notes_of(nbformat.read(path, as_version=4)) if n not in notes]
            except Exception as err:  # noqa: BLE001
                notes.append(f"could not read the graded notebook {path.name}: {err}")
        status = "ok" if not notes else "notes"
        if failed and student in failed:
            status, notes = "FAILED", [failed[student], *notes]
        elif mine.needs_manual_grade.any():
            status = "needs manual grade" if status == "ok" else status
        rows.append({"student": student, "score": round(float(mine.score.sum()), 4),
                     "max_score": float(mine.max_score.sum()), "status": status, "notes": " | ".join(notes)})
    return pd.DataFrame(rows, columns=["student", "score", "max_score", "status", "notes"])


def _print_table(assignment, table, seconds, jobs) -> None:
    import pandas as pd

    shown = table.assign(notes=[n if len(n) <= 90 else n[:87] + "..." for n in table.notes])
    with pd.option_context("display.max_colwidth", 90, "display.width", 250):
        print(f"\n{assignment}: {len(table)} submission(s) graded in {seconds:.1f} s with {jobs} job(s)")
        print(shown.to_string(index=False, justify="left"))
        print(f"(all notes: {table.attrs.get('csv', 'status.csv')})")
    bad = table[table.status == "FAILED"]
    if len(bad):
        print(f"\n{len(bad)} submission(s) could not be graded: {', '.join(bad.student)} (see the log)")


# ==================================================================================================
# Feedback and grades
# ==================================================================================================
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


# ==================================================================================================
# Submissions for tests and benchmarks
# ==================================================================================================
def answered(assignment: str, root: Path = ROOT, notebook: str | None = None):
    """A correct submission: the released notebook with every answer cell filled from the solution.

    (What a student who solved everything hands in: no hidden tests, no solution markers.)
    """
    source, rel = _config_dirs(root)
    name = notebook or assignment
    sol = nbformat.read(Path(root) / source / assignment / f"{name}.ipynb", as_version=4)
    out = nbformat.read(Path(root) / rel / assignment / f"{name}.ipynb", as_version=4)
    answers = {_grade_id(c): c.source for c in sol.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    for cell in out.cells:
        gid = _grade_id(cell)
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
    source, rel = _config_dirs(root)
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
        _, rel = _config_dirs(course)
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
                               "grade", assignment, "--jobs", str(j)], env=_env(), capture_output=True, text=True)
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


# ==================================================================================================
# Command line
# ==================================================================================================
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.autograde", description=__doc__.split("\n\n")[0])
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
    p = sub.add_parser("grades", help="CSV export and score distribution plot (make grades)")
    p.add_argument("--out", help="output folder (default build/grades)")
    p = sub.add_parser("bench", help="time serial vs parallel autograde")
    p.add_argument("assignment")
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--jobs", "-j", type=int, default=2)
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
        print(f"wrote {out / 'grades.csv'} and {out / 'score_distribution.png'}")
        return 0
    if args.command == "bench":
        print(json.dumps(benchmark(args.assignment, args.n, args.jobs, root, quiet=False), indent=1))
        return 0
    return 2


if __name__ == "__main__":
    import course.autograde as _module  # run the real module, so worker functions pickle by name

    sys.exit(_module.main())
