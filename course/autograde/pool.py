"""Running grading jobs many at once, each forked from a warm process.

Starting nbgrader (and importing torch in the grader) costs seconds of CPU. A forkserver imports
nbgrader, torch and the checks once; each job is a fork of it that grades one submission
(``worker``) or runs nbgrader's command-line app in-process. A job past its wall-clock limit is killed with every process below
it (``psutil``).

Used by: ``course.autograde.commands``.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import types
from typing import Callable, Sequence

import psutil

#: how ``prestart`` names the gradebook whose queries the forkserver compiles (``warm``)
GRADEBOOK_ENV = "COURSE_WARM_GRADEBOOK"
PRELOAD = ["course.startup", "course.autograde.execute", "course.autograde.preprocessors", "course.autograde.late",
           "course.autograde.worker", "nbgrader.apps.nbgraderapp", "course.autograde.warm"]


def _run_here(target: str, args: list, cwd: str, env: dict, log: str) -> None:
    """Body of one grading process (forked): ``target(*args)`` with its own session, folder,
    environment and log, then exit with its code. ``target`` names a function of this package
    (``"nbgrader"``: nbgrader's command line; ``"worker"``: ``worker.grade_submission``)."""
    os.setsid()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        if target == "worker":
            from course.autograde.worker import grade_submission

            code = grade_submission(*args)
        else:
            sys.argv = ["nbgrader", *args]
            from nbgrader.apps.nbgraderapp import NbGraderApp

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
_WARMED_FOR: str | None = None   # the assignment the running forkserver was made for (None: all)


def _context():
    """A forkserver that has imported nbgrader, torch and the checks: jobs fork from it at once."""
    global _CONTEXT
    if _CONTEXT is None:
        import multiprocessing as mp

        _CONTEXT = mp.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


def prestart(db_url: str = "", assignment: str = "", notebooks: Sequence[str] = ()) -> None:
    """Start the forkserver now: it imports ``PRELOAD`` in the background while the caller
    prepares the jobs (the first job would otherwise wait for those imports), at a higher
    priority until it is ready when the grader runs as root (``warm`` ends the boost). Given the
    gradebook, the assignment and its source notebooks, it imports only that assignment's
    checks and compiles the gradebook queries of the jobs' read-only preprocessors (``warm``).
    A forkserver already running is kept, unless it was made for another assignment: then it
    is replaced by one that imports every assignment's checks (at most once per process)."""
    global _WARMED_FOR
    from multiprocessing import forkserver

    _context()
    server = forkserver._forkserver
    if getattr(server, "_forkserver_pid", None) is not None:
        if _WARMED_FOR in (None, assignment):
            return
        server._stop()   # multiprocessing's own way to end its forkserver (its jobs have ended)
        db_url, notebooks = "", ()
    _WARMED_FOR = assignment if db_url and notebooks else None
    saved = os.environ.get(GRADEBOOK_ENV)
    if db_url and notebooks:
        os.environ[GRADEBOOK_ENV] = json.dumps({"db_url": db_url, "assignment": assignment,
                                                "notebooks": [str(n) for n in notebooks]})
    try:
        with _bare_main():
            forkserver.ensure_running()
        pid = getattr(server, "_forkserver_pid", None)
        if pid and os.geteuid() == 0:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, 0) - 5)
    finally:
        os.environ.pop(GRADEBOOK_ENV, None)
        if saved is not None:
            os.environ[GRADEBOOK_ENV] = saved


@contextlib.contextmanager
def _bare_main():
    """Hide ``__main__`` while a worker starts: multiprocessing would re-run it in the worker, and
    when it is this module (``python -m course``) runpy warns that it runs twice. The
    workers need nothing from ``__main__``."""
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = saved


def kill_tree(pid: int) -> None:
    """Kill ``pid`` and every process below it."""
    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.Error:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)


def start_job(task: dict, slot=None):
    """Fork ``task`` (a dict with args, cwd, env, log and optionally target; see ``_run_here``)
    from the warm server; with ``slot`` (a warm sandbox, ``course.autograde.slots.Slot``) its
    kernels run there (``$COURSE_SLOT``). Returns the running ``multiprocessing`` process."""
    from course.autograde.slots import ENV

    env = dict(task["env"])
    if slot is not None and slot.ready():
        env[ENV] = slot.settings["file"]
    proc = _context().Process(target=_run_here, args=(task.get("target", "nbgrader"), task["args"], task["cwd"],
                                                      env, task["log"]), daemon=False)
    with _bare_main():
        proc.start()
    return proc


def run_pool(tasks: list[dict], jobs: int, limit: float | None, slots: list | None = None,
             on_done: Callable[[str, int | None], None] | None = None) -> dict[str, int | None]:
    """Run ``tasks`` (dicts with key, args, cwd, env, log and optionally target) ``jobs`` at a time;
    exit codes by key.

    A task still running after ``limit`` seconds is killed with its kernel (code None).
    ``slots``: warm sandboxes (``course.autograde.slots.Slot``, one per job); each task gets a
    free one, which is reset when the task ends. ``on_done(key, code)`` is called as each task
    ends (its slot already reset).
    """
    from multiprocessing.connection import wait

    todo, running, codes = list(tasks), {}, {}
    free = list(slots or [])
    while todo or running:
        while todo and len(running) < jobs:
            task = todo.pop(0)
            slot = free.pop(0) if free else None
            running[task["key"]] = (start_job(task, slot), time.monotonic(), slot)
        wait([proc.sentinel for proc, _, _ in running.values()], timeout=1.0)
        for key, (proc, start, slot) in list(running.items()):
            if proc.exitcode is None and limit and time.monotonic() - start > limit:
                kill_tree(proc.pid)
                proc.join(5)
                codes[key] = None
            elif proc.exitcode is not None:
                codes[key] = proc.exitcode
            else:
                continue
            del running[key]
            if slot is not None:
                slot.recycle()
                free.append(slot)
            if on_done is not None:
                on_done(key, codes[key])
    return codes
