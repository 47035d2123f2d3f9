"""A sandbox for one submission's kernel, on Linux: bubblewrap, plus resource limits.

The grading kernel of a submission runs with:

==================  =========================================================================
network             none (a new network namespace with no interfaces but a dead loopback)
files               its own scratch folder (read-write, empty but for the files the
                    assignment declares, copied from the submission by the executor) and a
                    read-only Python environment: the system's ``/usr`` and ``/etc``, the
                    interpreter, the virtual environment and the ``course`` package's own
                    folder, plus a read-only view of the data cache without the files the
                    assignment hides (``hidden_data`` of ``assignment.json``: the labels the grader
                    evaluates on; A3's MNIST test split, A4's CIFAR-10 test batch).
                    ``solutions/``, ``hidden_tests/``, the gradebook, other students'
                    submissions and the rest of the course tree do not exist in it.
user                an unprivileged user id of its own (when the grader runs as root), or the
                    grader's own user mapped in a user namespace (when not)
processes           a PID namespace: when the kernel ends, every process it started ends too
limits              memory (address space), processes and threads, CPU seconds, file size;
                    the wall time of each cell is nbgrader's ``Execute.timeout``
==================  =========================================================================

The kernel talks to the grader over Unix sockets in its scratch folder (Jupyter's ``ipc``
transport), since it has no network. Where bubblewrap is missing (macOS, a machine without the
``bubblewrap`` package), ``available()`` says why, and grading runs unsandboxed with the limits
alone: the grader prints one loud warning and marks each row "unsandboxed".

Used by: ``course.autograde.execute`` (starting kernels), ``course.kernels`` (the launcher).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

ENV = "COURSE_SANDBOX"          # path of the JSON that tells the kernel launcher how to run
DEFAULT_LIMITS = {"processes": 512, "cpu_seconds": 900, "file_mb": 256}
UID_BASE = 61000
#: Variables the kernel keeps, and whose folders it may read: where the course's data is.
DATA_ENV = ("COURSE_DATA_DIR", "COURSE_DATA_CHECKSUMS", "COURSE_TEST_CHECKSUMS")


def available() -> str | None:
    """None when bubblewrap can sandbox kernels here, else why not (one line)."""
    if not sys.platform.startswith("linux"):
        return f"no sandbox on {sys.platform} (bubblewrap needs Linux)"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is missing"
    return None


def prepare(limits: dict | None = None, hidden_data: Sequence[str] = (), uid: int | None = None) -> dict:
    """A fresh scratch folder and the launcher's settings for one notebook's kernel.

    ``hidden_data``: paths or glob patterns inside the data cache (``"cifar-10-batches-py/test_batch"``,
    ``"MNIST/raw/t10k-*"``) that the kernel's view of it leaves out: the split a check evaluates
    on, which the grader reads itself (``assignment.json``'s ``hidden_data``).

    Returns the settings (also written to ``<scratch>/../sandbox.json``): ``scratch``,
    ``exchange`` (where grader and kernel swap requests), ``mode`` (``"bwrap"`` or
    ``"unsandboxed"``), ``why`` (when unsandboxed), ``uid`` (root: the given ``uid``, by default
    one derived from this process id; else this user's), ``readonly`` paths and ``limits``.
    """
    why = available()
    base = Path(tempfile.mkdtemp(prefix="course-job-"))
    scratch = base / "work"
    exchange = scratch / ".grader"
    exchange.mkdir(parents=True)
    if os.geteuid() != 0:
        uid = os.geteuid()
    elif uid is None:
        uid = UID_BASE + os.getpid() % 4000
    settings = {"scratch": str(scratch), "exchange": str(exchange), "mode": "unsandboxed" if why else "bwrap",
                "why": why, "uid": uid, "readonly": readonly_paths(), "env": {},
                "limits": {**DEFAULT_LIMITS, **(limits or {})}, "file": str(base / "sandbox.json")}
    if not why:
        settings["env"] = _data_view(base / "data", hidden_data)
        if settings["env"]:
            settings["readonly"].append(str(base / "data"))
    if os.geteuid() == 0 and not why:
        for path in (base, scratch, exchange):
            os.chown(path, uid, uid)
        os.chmod(base, 0o755)
    Path(settings["file"]).write_text(json.dumps(settings))
    return settings


class Watchdog:
    """Ends a fork bomb early: when the job's user id runs more than ``most`` processes, every
    one of them is killed (the kernel too: the executor restarts it and notes why). Root only,
    where each job has a user id of its own; ``RLIMIT_NPROC`` caps processes and threads anyway."""

    def __init__(self, settings: dict, most: int = 64, every: float = 0.5):
        """``settings["zygote_pid"]``, when there is one (``slots``), is spared: it is the grader's."""
        import threading

        self.settings, self.most, self.every = settings, most, every
        self.tripped = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        if self.settings.get("mode") == "bwrap" and os.geteuid() == 0:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()

    def _watch(self) -> None:
        import psutil

        uid = self.settings["uid"]
        while not self._stop.wait(self.every):
            spare = self.settings.get("zygote_pid")
            mine = [p for p in psutil.process_iter(["uids"])
                    if p.info["uids"] and p.info["uids"].real == uid and p.pid != spare]
            if len(mine) > self.most:
                self.tripped = True
                for proc in mine:
                    try:
                        proc.kill()
                    except psutil.Error:
                        pass


def _data_view(folder: Path, hidden: Sequence[str] = ()) -> dict:
    """A read-only view of the course's data for the kernel: ``$COURSE_DATA_DIR`` (by default
    the user's data cache, ``course.data.data_dir()``) and the checksum files the data variables
    name, mirrored into ``folder`` by hard links, in folders anyone may read (the cache itself
    often sits in a private home folder), without the files that ``hidden`` (paths or glob
    patterns relative to the data folder) matches. Returns the variables that point the kernel
    at the view."""
    env = {}
    for name in DATA_ENV:
        value = os.environ.get(name) or (_default_data_dir() if name == "COURSE_DATA_DIR" else None)
        if not value or not Path(value).exists():
            continue
        src = Path(value).resolve()
        dest = folder / name.lower()
        if src.is_file():
            dest.mkdir(parents=True, exist_ok=True)
            _link(src, dest / src.name)
            env[name] = str(dest / src.name)
            continue
        dest.mkdir(parents=True, exist_ok=True)  # the view exists even when nothing is in it
        for path in src.rglob("*"):
            if path.is_file() and not path.is_symlink() and not is_hidden(path.relative_to(src), hidden):
                _link(path, dest / path.relative_to(src))
        env[name] = str(dest)
    for path in [folder, *folder.rglob("*")] if folder.exists() else []:
        if path.is_dir():
            os.chmod(path, 0o755)
    return env


def is_hidden(relpath: Path | str, patterns: Sequence[str]) -> bool:
    """True for a file of the data cache (path relative to it) that one of ``patterns`` matches."""
    from fnmatch import fnmatch

    rel = Path(relpath).as_posix()
    return any(fnmatch(rel, pattern.strip("/")) for pattern in patterns)


def _default_data_dir() -> str:
    """The data cache ``course.data`` uses when ``$COURSE_DATA_DIR`` is not set."""
    from course.paths import data_dir

    return str(data_dir())


def _link(src: Path, dest: Path) -> None:
    """A hard link where the file is readable by anyone (a link shares the file's permissions),
    else (or across file systems) a readable copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        if not src.stat().st_mode & 0o004:
            raise PermissionError("not readable by others")
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
        os.chmod(dest, 0o644)


def cleanup(settings: dict) -> None:
    """End every process left by the job's user id (none should be: the PID namespace ends them)
    and remove the scratch folder."""
    if settings.get("mode") == "bwrap" and os.geteuid() == 0:
        end_processes(settings["uid"])
    shutil.rmtree(Path(settings["scratch"]).parent, ignore_errors=True)


def end_processes(uid: int) -> None:
    """SIGKILL every process of the user id ``uid`` (a job's own, when the grader runs as root)."""
    import psutil

    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real == uid:
                proc.kill()
        except (psutil.Error, OSError):
            pass


def readonly_paths() -> list[str]:
    """What the kernel may read: the interpreter, the environment and the course package."""
    import course

    paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(course.__file__).resolve().parent}
    paths |= {Path(sys.executable).resolve().parent.parent}
    return sorted(str(p) for p in paths if not str(p).startswith(("/usr", "/etc")))


def command(settings: dict, argv: list[str]) -> list[str]:
    """The bubblewrap command line that runs ``argv`` in the sandbox described by ``settings``."""
    scratch = settings["scratch"]
    cmd = ["bwrap", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "grading",
           "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = os.path.realpath(f"/{link}")
        if os.path.lexists(f"/{link}") and target.startswith("/usr/"):
            cmd += ["--symlink", target.lstrip("/"), f"/{link}"]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    made = {"/", "/usr", "/etc", "/tmp", "/proc", "/dev"}
    for path in [*settings["readonly"], scratch]:
        for parent in reversed(Path(path).parents):
            if str(parent) not in made:
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
    for path in settings["readonly"]:
        cmd += ["--ro-bind", path, path]
    cmd += ["--bind", scratch, scratch, "--chdir", scratch, "--clearenv"]
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": scratch, "LANG": "C.UTF-8",
           "MPLCONFIGDIR": f"{scratch}/.config/matplotlib", "MPLBACKEND": "Agg", "TMPDIR": "/tmp"}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_ARENA_MAX",
                 "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "COURSE_GRADING_TIMEOUT", "COURSE_DEVICE",
                 "NBGRADER_EXECUTION"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    env.update(settings.get("env", {}))
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    if os.geteuid() == 0:
        uid = str(settings["uid"])
        cmd += ["--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    else:
        cmd += ["--unshare-user", "--"]
    return cmd + list(argv)
