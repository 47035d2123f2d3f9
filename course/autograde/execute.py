"""The executor: nbgrader's ``Execute``, with a trusted grader for test cells, in a sandbox.

``SafeExecute`` runs a submitted notebook cell by cell in the grading kernel
(``course.kernels``), started inside a sandbox of its own (``course.autograde.sandbox``):

* **Answer and setup cells** run in the student's kernel, as nbgrader always does.
* **Test cells are never run in the kernel.** The grader reads the cell's check call
  (``testcells``), runs the check here, in the trusted process, with proxies of the learner's
  objects (``remote``) that run probes in the kernel and bring back plain data, and writes the
  check's report and score into the cell's outputs itself. The score is clamped to
  ``[0, points]``. So nothing a student's cell does in the kernel (patching the checks, numpy,
  torch, builtins, IPython's display or interactivity) can raise a score. The data a check scores
  on (``hidden_data`` of the assignment's ``assignment.json``) is left out of the kernel's
  view of the data cache.
* A dead or hung kernel costs one cell, not the notebook: when a cell kills the kernel
  (``os._exit``, ``exit()``, a segfault, the memory cap) or keeps running after the timeout's
  interrupt, the kernel is restarted, the answer cells above are re-run and grading continues.
* Answer cells that reach for the grader's side (course internals, ``sys.modules``,
  ``get_ipython``, files outside the working folder, subprocesses, sockets) are flagged for
  review in the status table (``review``); the score is left alone.

Used by: nbgrader, through ``nbgrader_config.py`` (``SafeExecute``).
"""
from __future__ import annotations

import contextlib
import copy
import io
import os
import re

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode

from course.autograde import remote, sandbox, slots, staging, testcells
from course.autograde.notes import add_note, coursedir, error_output, set_fact, where

#: What answer cells must not reach for; a match flags the submission for review (score kept).
SUSPICIOUS = {
    "course internals": r"\bcourse\.(grading|autograde|check|kernels)\b|from\s+course(\.\w+)*\s+import",
    "sys.modules": r"sys\.modules",
    "get_ipython": r"get_ipython|__builtins__|builtins\b",
    "files outside the working folder": r"open\(\s*['\"]/|\.\./|Path\(\s*['\"]/|os\.(chdir|listdir|scandir|walk)",
    "subprocesses": r"\bsubprocess\b|os\.(system|popen|fork|exec\w*|spawn\w*|kill)|multiprocessing|^\s*[!%]",
    "sockets": r"\bsocket\b|urllib|requests\.|http\.client",
}


def suspicious(source: str) -> list[str]:
    """What an answer cell reaches for that a solution never needs (see ``SUSPICIOUS``)."""
    return [what for what, pattern in SUSPICIOUS.items() if re.search(pattern, source, re.M)]


def review_flags(nb) -> list[str]:
    """What the answer *code* cells of ``nb`` reach for (``SUSPICIOUS``); written answers
    (markdown answer cells) are prose and never run, so they are not scanned."""
    return sorted({what for cell in nb.cells
                   if cell.get("cell_type") == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution")
                   for what in suspicious(cell.source)})


def is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


class KernelRestart(Exception):
    """The kernel has to be replaced (it no longer answers). ``done``: the cell has its outputs
    already (a test cell whose check lost the kernel): keep them and go on with the next cell."""

    def __init__(self, message: str, done: bool = False):
        super().__init__(message)
        self.done = done


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
    hidden_tests = Unicode("", help="Folder of the hidden tests (default: <course root>/hidden_tests).").tag(config=True)
    sandbox = Unicode("auto", help="'auto': bubblewrap where available, else unsandboxed with a warning; "
                                   "'off': never.").tag(config=True)
    submission_directory = Unicode("", help="Folder of the submission whose declared files (assignment.json) "
                                            "the kernel gets (default: nbgrader's submitted folder of the "
                                            "student).").tag(config=True)

    def create_kernel_manager(self):
        """Like nbclient's, but the course's grading kernel is found without being installed,
        and a sandboxed kernel talks over Unix sockets in its own folder (it has no network)."""
        from course import kernels

        if self.kernel_name != kernels.KERNEL_NAME:
            return super().create_kernel_manager()
        if self._sandbox.get("control") and slots.alive(self._sandbox):   # a warm slot: fork from its zygote
            self.km = slots.kernel_manager(self._sandbox, kernel_name=self.kernel_name, config=self.config,
                                           kernel_spec_manager=kernels.spec_manager())
            return self.km
        self.km = self.kernel_manager_class(kernel_name=self.kernel_name, config=self.config,
                                            kernel_spec_manager=kernels.spec_manager())
        if self._sandbox.get("mode") == "bwrap":
            self.km.transport = "ipc"
            self.km.ip = os.path.join(self._sandbox["exchange"], "kernel")
        return self.km

    def preprocess(self, nb, resources=None, km=None):
        from course.grading import hidden

        root = getattr(coursedir(self), "root", None) or os.getcwd()
        folder = self.hidden_tests or os.path.join(root, "hidden_tests")
        hidden.use(folder)
        if not os.path.isdir(folder) and any("HIDDEN TESTS" in c.source for c in nb.cells if is_test_cell(c)):
            add_note(nb, f"THE HIDDEN TESTS ARE MISSING ({folder}): only the visible cases were graded")
            self.log.error("The hidden tests are missing (%s): only the visible cases are graded", folder)
        info = (resources or {}).get("nbgrader", {})
        spec = staging.assignment_spec(root, info["assignment"]) if info.get("assignment") else {}
        slot = slots.attached() if self.sandbox != "off" else None
        # how a kernel ends (a hung one is always killed): a slot is reset after the notebook
        # anyway, so its kernels are killed rather than asked to end
        self._shutdown = "immediate" if slot else "graceful"
        if slot:   # a warm sandbox of the parallel grader (``slots``), emptied for this notebook
            slots.empty_scratch(slot)
            self._sandbox = slot
        else:
            self._sandbox = (sandbox.prepare(hidden_data=spec.get("hidden_data", [])) if self.sandbox != "off"
                             else {"mode": "unsandboxed", "why": "switched off"})
        self.shutdown_kernel = self._shutdown
        self._give_declared_files(nb, resources, root, spec)
        if self._sandbox.get("file"):
            os.environ[sandbox.ENV] = self._sandbox["file"]
        previous = os.environ.get("NBGRADER_EXECUTION")
        os.environ["NBGRADER_EXECUTION"] = "autograde"   # as nbgrader sets it; notebooks skip long work
        set_fact(nb, "sandbox", self._sandbox["mode"])
        if self._sandbox["mode"] != "bwrap":
            self.log.warning("UNSANDBOXED: %s. The submission runs with this user's rights.", self._sandbox.get("why"))
        review = review_flags(nb)
        if review:
            set_fact(nb, "review", review)
        try:
            with sandbox.Watchdog(self._sandbox) as watchdog:
                result = self._execute(nb, resources, km)
            if watchdog.tripped:
                add_note(nb, "the submission started more processes than grading allows (a fork bomb?); "
                             "they were all ended and the kernel was restarted")
            return result
        finally:
            os.environ.pop(sandbox.ENV, None)
            if previous is None:
                os.environ.pop("NBGRADER_EXECUTION", None)
            else:
                os.environ["NBGRADER_EXECUTION"] = previous
            if slot:
                slots.reset(self._sandbox)
            elif self._sandbox.get("file"):
                sandbox.cleanup(self._sandbox)

    def _give_declared_files(self, nb, resources, root: str, spec: dict) -> None:
        """Copy the files the assignment declares (``assignment.json``: ``files``, at most
        ``max_file_mb``) from the student's submission to where the kernel runs: its scratch
        folder, or (sandbox off) the graded notebook's folder. Always the submitted file, never
        a copy nbgrader put next to the graded notebook from the source folder."""
        info = resources["nbgrader"]
        names = staging.declared_files(root, info["assignment"]) if spec else []
        if not names:
            return
        course_dir = coursedir(self)
        src = self.submission_directory
        if not src and course_dir is not None:
            src = course_dir.format_path(course_dir.submitted_directory, info["student"], info["assignment"])
        work = resources.get("metadata", {}).get("path") or os.getcwd()
        dest = self._sandbox.get("scratch") or work
        for name in names:   # nothing of the instructor's may stand in for a missing file
            with contextlib.suppress(OSError):
                os.remove(os.path.join(dest, name))
        if not src or not os.path.isdir(src):
            return
        for note in staging.copy_declared(src, dest, names, staging.max_file_bytes(root, info["assignment"])):
            add_note(nb, note)
        if self._sandbox.get("mode") == "bwrap" and os.geteuid() == 0:
            for name in names:
                with contextlib.suppress(OSError):
                    os.chown(os.path.join(dest, name), self._sandbox["uid"], self._sandbox["uid"])

    def _execute(self, nb, resources, km):
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
                    self._kernel_info = info["content"]   # says whether it takes probe messages (``remote``)
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
                if getattr(err, "done", False):   # a test cell's check lost the kernel: it is scored
                    add_note(self.nb, f"{where(cell)}: {err}; the kernel was restarted")
                    skipped.add(current)
                    resume = current + 1
                elif self._trusted(cell) and current not in retried:
                    # a read-only cell is the course's code: it was slow (a busy machine),
                    # or learner code it called crashed. Run it once more on a fresh kernel.
                    retried.add(current)
                    cell.outputs = []
                    add_note(self.nb, f"{where(cell)}: {self._what(err)}; it was run again on a "
                                      "fresh kernel")
                    resume = current
                else:
                    self._explain(cell, err)
                    skipped.add(current)
                    resume = current + 1
                self.shutdown_kernel = self._shutdown
                if restarts > self.max_restarts:
                    self._give_up(resume)
                    break
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _run(self, cell, resources, index: int, replay: bool = False) -> None:
        if is_test_cell(cell):
            if not replay:
                self._grade_test_cell(cell, index)
            return
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
        if timed_out and not self.responsive():
            self.shutdown_kernel = "immediate"
            raise KernelRestart("did not stop when interrupted")

    def _grade_test_cell(self, cell, index: int) -> None:
        """Score a test cell in this (trusted) process: see the module docstring."""
        points = float(cell.metadata["nbgrader"].get("points", 0))
        try:
            call = testcells.parse(cell.source)
            check = call.check()
        except Exception as err:  # noqa: BLE001 - a test cell the grader cannot read scores 0
            cell.outputs = [error_output("TestCellNotRecognised", f"{err}; this cell scores 0")]
            return
        session = remote.KernelSession(self, self._sandbox.get("exchange") or self._exchange())
        args = [remote.Remote(session, value) if kind == "name" else value for kind, value in call.args]
        report = io.StringIO()
        with contextlib.redirect_stdout(report):
            score = check(*args, **call.kwargs)
        try:
            score = min(max(float(score), 0.0), points)
        except (TypeError, ValueError):
            score = 0.0
        self.code_cells_executed += 1
        cell.execution_count = self.code_cells_executed
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=report.getvalue()),
                        nbformat.v4.new_output("execute_result", data={"text/plain": repr(score)},
                                               execution_count=cell.execution_count,
                                               metadata={"course_grader": True})]
        if session.dead:
            self.shutdown_kernel = "immediate"
            raise KernelRestart(session.dead, done=True)

    def _exchange(self) -> str:
        """Where an unsandboxed kernel swaps requests with the grader: its working folder."""
        import tempfile

        if not getattr(self, "_tmp_exchange", None):
            self._tmp_exchange = tempfile.mkdtemp(prefix="course-exchange-")
        return self._tmp_exchange

    def responsive(self) -> bool:
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
        cell.setdefault("outputs", []).append(error_output(
            ename, f"{self._what(err)}; the kernel was restarted, the cells above were run again and "
                   "grading went on with the next cell"))

    def _give_up(self, start: int) -> None:
        for cell in self.nb.cells[start:]:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs = [error_output(
                    "NotRun", f"not run: the kernel had to be restarted {self.max_restarts + 1} times in this notebook")]
