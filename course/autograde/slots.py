"""Warm sandboxes for the parallel autograder: one per worker slot, each with a kernel zygote.

``make autograde JOBS=N`` grades N submissions at a time. Instead of a new sandbox and a cold
kernel (Python, IPython, numpy, maybe torch: seconds of CPU) for every notebook, each of the N
slots keeps one sandbox (``course.autograde.sandbox``: the same limits, view of the files and
user id) with a zygote in it (``course.kernels.zygote``) that has already imported what the
assignment's read-only cells import, and forks a fresh kernel for each notebook:

1. ``Slot.start()``: the slot's scratch folder and settings (``sandbox.prepare``), a listening
   Unix socket outside the sandbox, and ``course kernel launch --zygote FD`` (limits, bubblewrap,
   then the zygote).
2. For each submission the pool hands a free slot to the worker (``$COURSE_SLOT`` names the
   slot's settings file). The executor (``execute.SafeExecute``) asks the zygote for a kernel
   through ``kernel_manager()``; if the zygote is gone (a submission can kill it) the kernel
   starts the ordinary way (``course kernel launch``), in the same sandbox settings.
3. When the notebook ends, and again when the worker ends, ``reset()`` ends every process the
   submission left in the sandbox, empties ``/tmp``, ``/dev/shm`` and the scratch folder; a
   dead zygote is replaced before the slot's next submission.

So each submission still starts with no process and no file of the one before, as with a
sandbox of its own; what it shares with the others in its slot is the zygote, which it can
neither trace nor reach through a file (it can kill it: that costs speed only).

Used by: ``course.autograde.grade`` and ``pool`` (slots), ``execute`` (kernels).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence
from unittest import mock

from course.autograde import sandbox
from course.kernels import zygote

ENV = "COURSE_SLOT"        # the settings file of the slot a grading worker uses
ALWAYS = ["numpy", "course.grading.probes"]   # what every graded kernel imports (the probes)


def alive(settings: dict) -> bool:
    """True when the slot's zygote answers (it may have been killed by a submission)."""
    return zygote.alive(settings["control"])


def kernel_manager(settings: dict, **kwargs):
    """A kernel manager (``jupyter_client``) whose kernel the slot's zygote forks, talking over
    Unix sockets in the slot's exchange folder (the sandbox has no network)."""
    km = zygote.kernel_manager_class()(control=settings["control"], cwd=settings["scratch"],
                                       uid=settings["uid"] if os.geteuid() == 0 else -1, **kwargs)
    km.transport, km.ip = "ipc", os.path.join(settings["exchange"], "kernel")
    km.connection_file = os.path.join(settings["exchange"], f"kernel-{os.urandom(4).hex()}.json")
    return km


def attached() -> dict | None:
    """The settings of the slot this grading worker was given (``$COURSE_SLOT``), or None."""
    path = os.environ.get(ENV)
    return json.loads(Path(path).read_text()) if path and Path(path).is_file() else None


def empty_scratch(settings: dict) -> None:
    """Remove everything in the slot's scratch folder (the folder itself is bind-mounted into the
    sandbox and stays), then make the grader's exchange folder again."""
    scratch = Path(settings["scratch"])
    for path in scratch.iterdir() if scratch.exists() else []:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    exchange = Path(settings["exchange"])
    exchange.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(exchange, settings["uid"], settings["uid"])


def reset(settings: dict) -> bool:
    """End every process a submission left in the slot's sandbox and empty its folders; False
    when the zygote is gone (the slot needs a new one)."""
    try:
        ok = bool(zygote.call(settings["control"], "reset", timeout=30).get("ok"))
    except (OSError, ValueError):
        ok = False
    if not ok and os.geteuid() == 0:   # whatever is left of the slot's user id
        sandbox.end_processes(settings["uid"])
    empty_scratch(settings)
    return ok


def preload_modules(notebooks: Sequence[Path]) -> list[str]:
    """What a slot's zygote imports: ``ALWAYS`` and what the read-only cells of the assignment's
    source ``notebooks`` import (``zygote.imports_of``)."""
    return list(dict.fromkeys(ALWAYS + zygote.imports_of(notebooks)))


class Slot:
    """One warm sandbox with its zygote (see the module docstring)."""

    def __init__(self, index: int, preload: Sequence[str], env: dict, hidden_data: Sequence[str] = ()):
        self.index, self.preload, self.env, self.hidden_data = index, list(preload), dict(env), list(hidden_data)
        self.settings: dict = {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Slot":
        """Prepare the sandbox and start the zygote (it preloads in the background)."""
        uid = sandbox.UID_BASE + (os.getpid() * 8 + self.index) % 4000 if os.geteuid() == 0 else None
        data_env = {k: v for k, v in self.env.items() if k in sandbox.DATA_ENV}
        with mock.patch.dict(os.environ, data_env):   # the data view follows the grading environment's data
            self.settings = sandbox.prepare(hidden_data=self.hidden_data, uid=uid)
        self.settings.update(control=str(Path(self.settings["file"]).parent / "control.sock"), slot=self.index)
        self._launch()
        return self

    def _launch(self) -> None:
        """The zygote, under the grading limits and in the sandbox (``course kernel launch --zygote``)."""
        Path(self.settings["file"]).write_text(json.dumps(self.settings))
        env = {**self.env, sandbox.ENV: self.settings["file"], "NBGRADER_EXECUTION": "autograde"}
        self.proc = zygote.start([sys.executable, "-I", "-m", "course", "kernel", "launch", "--zygote"], self.settings["control"],
                                 self.preload, env, Path(self.settings["file"]).parent / "zygote.log")

    def ready(self, timeout: float = 120) -> bool:
        """Wait for the zygote's preloading; record its process id (the watchdog spares it)."""
        try:
            zygote.call(self.settings["control"], "ping", timeout=timeout)
        except (OSError, ValueError):
            return False
        if "zygote_pid" not in self.settings and self.proc is not None:
            import psutil

            with contextlib.suppress(psutil.Error):
                for proc in psutil.Process(self.proc.pid).children(recursive=True):
                    if "zygote" in proc.cmdline():
                        self.settings["zygote_pid"] = proc.pid
                        Path(self.settings["file"]).write_text(json.dumps(self.settings))
                        break
        return True

    def recycle(self) -> None:
        """After a submission: reset the sandbox; start a new zygote if the old one is gone."""
        if not reset(self.settings) or (self.proc is not None and self.proc.poll() is not None):
            self.stop(keep_folder=True)
            self.settings.pop("zygote_pid", None)
            self._launch()

    def stop(self, keep_folder: bool = False) -> None:
        """End the zygote and its sandbox; remove the slot's folder unless ``keep_folder``.
        (Killing bubblewrap ends its PID namespace: the zygote and every kernel in it.)"""
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            if os.geteuid() == 0 and self.settings:
                sandbox.end_processes(self.settings["uid"])
        self.proc = None
        if not keep_folder and self.settings:
            sandbox.cleanup(self.settings)
