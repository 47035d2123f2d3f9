"""``course kernel zygote --fd N``: a warm process, inside a grading sandbox, that forks kernels.

Starting a grading kernel costs a second of CPU (Python, IPython, ipykernel, numpy; three more
for ``import torch``) before the first cell runs. The parallel autograder keeps one sandbox per
worker slot (``course.autograde.slots``) with this process in it: it imports what the
assignment's read-only cells import, once, and then, for each notebook, forks a child that
becomes an IPython kernel (``IPKernelApp``) on the connection file the grader wrote.

Requests come one per connection, one JSON line each, on the listening Unix socket that the
grader passed as file descriptor ``N`` (its path lies outside the sandbox: kernels cannot reach
it, and every child closes it at once):

==========  ==========================================  ==================================
op          arguments                                   answer
==========  ==========================================  ==================================
ping                                                    ``{"ok": true}`` (after preloading)
spawn       ``connection_file``, ``cwd``                ``{"pid": P}`` (pid in the sandbox)
poll        ``pid``                                     ``{"code": C}``; null while running
signal      ``pid``, ``sig``                            ``{"ok": true}``
reset                                                   ``{"ok": true}``: every other process
                                                        of the sandbox ended, ``/tmp`` and
                                                        ``/dev/shm`` emptied
==========  ==========================================  ==================================

Between two submissions the grader sends ``reset`` and empties the scratch folder itself, so
each submission starts with no process and no file of the one before. The zygote is not
dumpable (``prctl``): a kernel running as the same user cannot trace it or read its memory. A
kernel can still kill it; the grader then starts kernels the ordinary way (``launcher``) and
starts a fresh zygote for the next submission.

Used by: ``course.autograde.slots`` (started through ``course kernel launch --zygote``).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys

PR_SET_DUMPABLE = 4


def _not_dumpable() -> None:
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def preload(modules: list[str]) -> list[str]:
    """Import ``modules`` (and IPython's kernel); returns the ones that could not be imported."""
    failed = []
    for name in ["ipykernel.kernelapp", "ipykernel.ipkernel", *modules]:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a module the kernel lacks is the kernel's own error later
            failed.append(name)
    return failed


def _become_kernel(connection_file: str, cwd: str) -> None:
    """In the forked child: a fresh IPython kernel on ``connection_file``; never returns."""
    code = 1
    try:
        os.setsid()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        os.chdir(cwd)
        # a fresh process draws fresh random seeds: so does each kernel forked from here
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        if "torch" in sys.modules:
            sys.modules["torch"].seed()
        sys.argv = ["ipykernel_launcher", "-f", connection_file, "--HistoryManager.hist_file=:memory:"]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance(argv=sys.argv[1:])
        code = 0
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else 0
    except BaseException:  # noqa: BLE001 - report on the kernel's stderr, then end
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _end_the_others() -> None:
    """SIGKILL every process of the sandbox but this one and bubblewrap's init, until none is left,
    and reap the ones that were ours."""
    me = os.getpid()
    for _ in range(50):
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not others:
            break
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        _reap()
        import time

        time.sleep(0.01)


def _reap(pid: int = -1) -> dict[int, int]:
    """Collect ended children without waiting: pid -> exit code (negative: killed by a signal)."""
    done = {}
    while True:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return done
        if got == 0:
            return done
        done[got] = os.waitstatus_to_exitcode(status)
        if pid != -1:
            return done


def _mount_points() -> list[str]:
    """Where something is mounted in this sandbox (``/proc/self/mountinfo``, fifth field)."""
    try:
        with open("/proc/self/mountinfo") as f:
            return [line.split()[4] for line in f if len(line.split()) > 4]
    except OSError:
        return []


def _empty(folder: str) -> None:
    """Remove what is in ``folder``, except the folders that hold the sandbox's mounts (the
    scratch folder and the read-only environment may live below ``/tmp``)."""
    import shutil

    try:
        names = os.listdir(folder)
    except OSError:
        return
    mounts = _mount_points()
    for name in names:
        path = os.path.join(folder, name)
        if any(m == path or m.startswith(path + "/") for m in mounts):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                pass


def serve(fd: int, modules: list[str]) -> None:
    """Preload ``modules``, then answer requests on the listening socket ``fd`` until it closes."""
    _not_dumpable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(fileno=fd)
    failed = preload(modules)
    children: dict[int, int | None] = {}   # the kernels forked here: pid -> exit code, None while running
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                request = json.loads(conn.makefile("r").readline())
                op = request.get("op")
                children.update(_reap())
                if op == "ping":
                    answer = {"ok": True, "failed": failed}
                elif op == "spawn":
                    pid = os.fork()
                    if pid == 0:
                        conn.close()
                        listener.close()
                        _become_kernel(str(request["connection_file"]), str(request["cwd"]))
                    children[pid] = None
                    answer = {"pid": pid}
                elif op == "poll":   # a pid this zygote never started, or forgot, has ended
                    answer = {"code": children.get(int(request["pid"]), -signal.SIGKILL)}
                elif op == "signal":
                    pid = int(request["pid"])
                    if children.get(pid, -1) is not None:
                        answer = {"ok": False, "error": "no such running kernel"}
                    else:
                        os.kill(pid, int(request["sig"]))
                        answer = {"ok": True}
                elif op == "reset":
                    _end_the_others()
                    children = {pid: -signal.SIGKILL if code is None else code
                                for pid, code in {**children, **_reap()}.items()}
                    for folder in ("/tmp", "/dev/shm"):
                        _empty(folder)
                    answer = {"ok": True}
                else:
                    answer = {"error": f"unknown op {op!r}"}
            except Exception as err:  # noqa: BLE001 - a bad request gets an answer, never ends the zygote
                answer = {"error": f"{type(err).__name__}: {err}"}
            try:
                conn.sendall((json.dumps(answer) + "\n").encode())
            except OSError:
                pass


def add_arguments(p) -> None:
    p.add_argument("--fd", type=int, required=True, help="the listening Unix socket, inherited")
    p.add_argument("--preload", default="", help="comma-separated modules to import before forking")


def main(args) -> int:
    serve(args.fd, [m for m in args.preload.split(",") if m])
    return 0
