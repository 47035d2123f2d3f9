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
   through ``ZygoteKernelManager``; if the zygote is gone (a submission can kill it) the kernel
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

import ast
import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from course.autograde import sandbox

ENV = "COURSE_SLOT"        # the settings file of the slot a grading worker uses
ALWAYS = ["numpy", "course.grading.probes"]   # what every graded kernel imports (the probes)


def call(control: str, op: str, timeout: float = 10.0, **args) -> dict:
    """One request to the zygote listening on ``control``; raises ``OSError`` when it does not answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(control)
        s.sendall((json.dumps({"op": op, **args}) + "\n").encode())
        line = s.makefile("r").readline()
    if not line:
        raise ConnectionError(f"the zygote closed the connection ({op})")
    answer = json.loads(line)
    if "error" in answer and op != "signal":
        raise OSError(f"the zygote could not {op}: {answer['error']}")
    return answer


def alive(settings: dict) -> bool:
    """True when the slot's zygote answers (it may have been killed by a submission)."""
    try:
        return bool(call(settings["control"], "ping", timeout=2).get("ok"))
    except (OSError, ValueError):
        return False


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
        ok = bool(call(settings["control"], "reset", timeout=30).get("ok"))
    except (OSError, ValueError):
        ok = False
    if not ok and os.geteuid() == 0:   # whatever is left of the slot's user id
        sandbox.end_processes(settings["uid"])
    empty_scratch(settings)
    return ok


def preload_modules(notebooks: Sequence[Path]) -> list[str]:
    """The modules that the read-only code cells of ``notebooks`` (an assignment's source)
    import, and that this environment has; plus ``ALWAYS``. What a zygote imports once."""
    import importlib.util

    import nbformat

    found = list(ALWAYS)
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type != "code" or meta.get("solution") or meta.get("grade"):
                continue
            code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            try:
                tree = ast.parse(code)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found += [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.append(node.module)
                    found += [f"{node.module}.{alias.name}" for alias in node.names]
    keep = []
    for name in dict.fromkeys(found):
        try:
            if importlib.util.find_spec(name) is not None:
                keep.append(name)
        except (ImportError, ValueError):
            pass   # "pkg.attribute" is not a module: the import of pkg covers it
    return keep


class Slot:
    """One warm sandbox with its zygote (see the module docstring)."""

    def __init__(self, index: int, preload: Sequence[str], env: dict, hidden_data: Sequence[str] = ()):
        self.index, self.preload, self.env, self.hidden_data = index, list(preload), dict(env), list(hidden_data)
        self.settings: dict = {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Slot":
        """Prepare the sandbox and start the zygote (it preloads in the background)."""
        uid = sandbox.UID_BASE + (os.getpid() * 8 + self.index) % 4000 if os.geteuid() == 0 else None
        with _environ(self.env):   # the data view follows the grading environment's data folder
            self.settings = sandbox.prepare(hidden_data=self.hidden_data, uid=uid)
        self.settings.update(control=str(Path(self.settings["file"]).parent / "control.sock"), slot=self.index)
        self._launch()
        return self

    def _launch(self) -> None:
        """A listening socket outside the sandbox, and the zygote on it (``course kernel launch --zygote``)."""
        control = Path(self.settings["control"])
        control.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(control))
        os.chmod(control, 0o600)
        listener.listen(16)
        Path(self.settings["file"]).write_text(json.dumps(self.settings))
        env = {**self.env, sandbox.ENV: self.settings["file"], "NBGRADER_EXECUTION": "autograde"}
        cmd = [sys.executable, "-I", "-m", "course", "kernel", "launch", "--zygote", str(listener.fileno()),
               "--preload", ",".join(self.preload)]
        with open(control.parent / "zygote.log", "ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, pass_fds=(listener.fileno(),), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        listener.close()   # the zygote holds it now: if it dies, requests fail at once

    def ready(self, timeout: float = 120) -> bool:
        """Wait for the zygote's preloading; record its process id (the watchdog spares it)."""
        try:
            call(self.settings["control"], "ping", timeout=timeout)
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


@contextlib.contextmanager
def _environ(env: dict):
    """``os.environ`` as ``env`` says while preparing (the data folder variables), then restored."""
    from unittest import mock

    with mock.patch.dict(os.environ, {k: v for k, v in env.items() if k in sandbox.DATA_ENV}):
        yield


# --------------------------------------------------------------------------------------------
# jupyter_client's side: a kernel manager whose kernels come from the zygote
# --------------------------------------------------------------------------------------------
class ZygoteProcess:
    """What jupyter_client's provisioner needs of a ``Popen``, for a kernel forked by the zygote
    (``pid`` is its id inside the sandbox; every signal goes through the zygote)."""

    stdin = stdout = stderr = None

    def __init__(self, control: str, pid: int):
        self.control, self.pid = control, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = call(self.control, "poll", pid=self.pid)["code"]
            except (OSError, ValueError, KeyError):
                self.returncode = -signal.SIGKILL   # the zygote is gone, and its sandbox with it
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is not None:
            return
        try:
            answer = call(self.control, "signal", pid=self.pid, sig=int(sig))
        except (OSError, ValueError):
            return
        if not answer.get("ok"):
            raise ProcessLookupError(errno.ESRCH, answer.get("error", "no such process"))

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def kernel_manager_class():
    """``ZygoteKernelManager``, made on first use (jupyter_client is imported only then)."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_client.provisioning import LocalProvisioner
    from traitlets import Dict

    class ZygoteProvisioner(LocalProvisioner):
        """Kernels forked by the slot's zygote instead of started by a command."""

        async def launch_kernel(self, cmd, **kwargs):
            slot = self.parent.slot
            path = self.parent.connection_file
            if os.geteuid() == 0:
                os.chown(path, slot["uid"], slot["uid"])
            answer = call(slot["control"], "spawn", timeout=120, connection_file=path, cwd=slot["scratch"])
            self.process = ZygoteProcess(slot["control"], int(answer["pid"]))
            self.pid, self.pgid = self.process.pid, None
            self.cwd = slot["scratch"]
            return self.connection_info

    class ZygoteKernelManager(AsyncKernelManager):
        """An ``AsyncKernelManager`` whose kernel processes come from the zygote of ``slot``."""

        slot = Dict()

        async def _async_pre_start_kernel(self, **kw):
            if self.provisioner is None:
                self.provisioner = ZygoteProvisioner(kernel_id=self.kernel_id or "", kernel_spec=self.kernel_spec,
                                                     parent=self)
            return await super()._async_pre_start_kernel(**kw)

    return ZygoteKernelManager
