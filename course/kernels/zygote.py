"""``course kernel zygote --fd N``: a warm process that forks IPython kernels; both ends of it.

Starting a kernel costs a second of CPU (Python, IPython, ipykernel, numpy) before the first
cell runs, and ``import torch`` and its first optimizer five more. A zygote imports those once
and then, for each notebook, forks a child that becomes a fresh IPython kernel (``IPKernelApp``,
an empty namespace) on the connection file the client wrote. Two users:

* the parallel autograder keeps one sandbox per worker slot with a zygote in it
  (``course.autograde.slots``; started through ``course kernel launch --zygote``, so under the
  grading limits), preloading what the assignment's read-only cells import; its kernels are
  grading kernels (``--kernel-class``, ``course.kernels.grading``);
* smoke runs of the lessons (``course.runner``) fork every kernel from one zygote, unsandboxed,
  preloading what the lessons import (each kernel gets the environment its notebook asks for).

The client side (``start``, ``call``, ``kernel_manager_class``) is at the end of this module.

Requests come one per connection, one JSON line each, on the listening Unix socket that the
grader passed as file descriptor ``N`` (its path lies outside the sandbox: kernels cannot reach
it, and every child closes it at once):

==========  ==========================================  ==================================
op          arguments                                   answer
==========  ==========================================  ==================================
ping                                                    ``{"ok": true}`` (after preloading)
spawn       ``connection_file``, ``cwd``, ``env``       ``{"pid": P}`` (pid in the sandbox)
poll        ``pid``                                     ``{"code": C}``; null while running
signal      ``pid``, ``sig``                            ``{"ok": true}``; for SIGKILL also
                                                        ``"code"``: the kernel is reaped
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


#: What a kernel imports as it starts (``IPKernelApp.initialize``: the shell, its debugger,
#: logger, inspector and history, the store magic, tornado's event loop): imported once here
#: instead of in every forked kernel (about 40 ms of CPU each).
KERNEL_START = ["ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "IPython.core.completerlib",
                "IPython.core.debugger", "IPython.core.logger", "IPython.core.oinspect",
                "IPython.extensions.storemagic", "IPython.utils.wildcard", "sqlite3", "pdb", "faulthandler",
                "secrets", "tornado.platform.asyncio", "psutil"]


def preload(modules: list[str]) -> list[str]:
    """Import ``modules`` (and IPython's kernel, ``KERNEL_START``; with numpy, ``numpy.random``,
    which each kernel reseeds; with torch, ``torch._dynamo``, which the first optimizer
    imports); returns the ones that could not be imported."""
    failed = []
    extra = [*(["numpy.random"] if "numpy" in modules else []), *(["torch._dynamo"] if "torch" in modules else [])]
    for name in [*KERNEL_START, *modules, *extra]:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a module the kernel lacks is the kernel's own error later
            failed.append(name)
    return failed


def _become_kernel(connection_file: str, cwd: str, env: dict | None = None, kernel_class: str = "") -> None:
    """In the forked child: a fresh IPython kernel on ``connection_file``; never returns."""
    code = 1
    try:
        os.setsid()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        os.chdir(cwd)
        # a fresh process draws fresh random seeds: so does each kernel forked from here
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        if "torch" in sys.modules:
            sys.modules["torch"].seed()
        sys.argv = ["ipykernel_launcher", "-f", connection_file, "--HistoryManager.hist_file=:memory:",
                    *([f"--IPKernelApp.kernel_class={kernel_class}"] if kernel_class else [])]
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


def _in_own_sandbox() -> bool:
    """True in a PID namespace of bubblewrap's (its init is process 1): there, ending "every
    other process" means the submission's. Anywhere else it would mean the user's."""
    try:
        with open("/proc/1/comm") as f:
            return f.read().strip() == "bwrap"
    except OSError:
        return False


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


def _reap(pid: int = -1, block: bool = False) -> dict[int, int]:
    """Collect ended children (without waiting, unless ``block``): pid -> exit code (negative:
    killed by a signal)."""
    done = {}
    while True:
        try:
            got, status = os.waitpid(pid, 0 if block else os.WNOHANG)
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


def serve(fd: int, modules: list[str], kernel_class: str = "") -> None:
    """Preload ``modules``, then answer requests on the listening socket ``fd`` until it closes.
    Kernels are IPython's, or ``kernel_class`` (a dotted name, e.g. the grading kernel's)."""
    _not_dumpable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(fileno=fd)
    # ipykernel makes inline figures the default this way in every kernel it starts; matplotlib
    # reads the variable once, at import, so it must be set before the preload imports it
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    failed = preload([*modules, *([kernel_class.rpartition(".")[0]] if kernel_class else [])])
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
                        _become_kernel(str(request["connection_file"]), str(request["cwd"]), request.get("env"),
                                       kernel_class)
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
                        if int(request["sig"]) == signal.SIGKILL:   # it dies at once: say so
                            children.update(_reap(pid, block=True))
                            answer["code"] = children[pid]
                elif op == "reset" and not _in_own_sandbox():
                    answer = {"error": "reset ends every other process: only in a sandbox of its own"}
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
    p.add_argument("--kernel-class", default="", help="the kernels' class (default: IPython's)")


def main(args) -> int:
    serve(args.fd, [m for m in args.preload.split(",") if m], args.kernel_class)
    return 0


# --------------------------------------------------------------------------------------------
# The client: start a zygote, talk to it, and a jupyter_client kernel manager on top
# --------------------------------------------------------------------------------------------
def start(command: list[str], control: str, modules: list[str], env: dict, log) -> "subprocess.Popen":
    """Start ``command + [FD, "--preload", ...]`` listening on the Unix socket ``control`` (file
    descriptor FD): ``python -I -m course kernel zygote --fd`` as it is, or ``... kernel launch
    --zygote`` in the grading sandbox, under its limits."""
    import subprocess

    if os.path.exists(control):
        os.remove(control)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(control))
    os.chmod(control, 0o600)
    listener.listen(16)
    with open(log, "ab") as out:
        proc = subprocess.Popen([*command, str(listener.fileno()), "--preload", ",".join(modules)], env=env,
                                pass_fds=(listener.fileno(),), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    listener.close()   # the zygote holds it now: if it dies, requests fail at once
    return proc


def call(control: str, op: str, timeout: float = 10.0, **args) -> dict:
    """One request to the zygote listening on ``control``; ``OSError`` when it does not answer."""
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


def imports_of(notebooks) -> list[str]:
    """The modules that the code cells of ``notebooks`` import (not the learner's answer cells
    or nbgrader's test cells) and that this environment has: what a zygote preloads."""
    import ast
    import importlib.util

    import nbformat

    found = []
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
                    found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    keep = []
    for name in dict.fromkeys(found):
        try:
            if importlib.util.find_spec(name) is not None:
                keep.append(name)
        except (ImportError, ValueError):
            pass   # "package.attribute" is not a module: importing the package covers it
    return keep


def alive(control: str) -> bool:
    """True when the zygote on ``control`` answers (a kernel may have killed it)."""
    try:
        return bool(call(control, "ping", timeout=2).get("ok"))
    except (OSError, ValueError):
        return False


class ZygoteProcess:
    """What jupyter_client's provisioner needs of a ``Popen``, for a kernel the zygote forked
    (``pid`` is its id as the zygote sees it; every signal goes through the zygote)."""

    stdin = stdout = stderr = None

    def __init__(self, control: str, pid: int):
        self.control, self.pid = control, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = call(self.control, "poll", pid=self.pid)["code"]
            except (OSError, ValueError, KeyError):
                self.returncode = -signal.SIGKILL   # the zygote is gone, and its kernels with it
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import subprocess
        import time

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
            raise ProcessLookupError(3, answer.get("error", "no such process"))
        if answer.get("code") is not None:   # SIGKILL: reaped before the answer, no polling for its end
            self.returncode = int(answer["code"])

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def quick_client_class():
    """jupyter_client's asynchronous client, ready a fifth of a second sooner.

    Its ``wait_for_ready`` asks for ``kernel_info`` until the reply comes on the shell channel and
    a message on IOPub (both channels connected), then waits until IOPub has been quiet for 0.2 s,
    to drop the start-up messages. Every reader here (nbclient, the grader) picks IOPub messages
    by the id of its own request, so the leftovers are ignored anyway and the pause, paid once per
    kernel, is left out. The loop is jupyter_client's own (8.x, ``KernelClient._async_wait_for_ready``).
    """
    import time
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient

    class QuickKernelClient(AsyncKernelClient):
        async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    msg = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    pass
                else:
                    if msg["msg_type"] == "kernel_info_reply":
                        try:
                            await self.iopub_channel.get_msg(timeout=0.2)   # IOPub is connected
                        except Empty:
                            pass
                        else:
                            self._handle_kernel_info_reply(msg)
                            return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

        wait_for_ready = _async_wait_for_ready

    return QuickKernelClient


def kernel_manager_class(**defaults):
    """``ZygoteKernelManager`` (made on first use: jupyter_client is imported only then), an
    ``AsyncKernelManager`` whose kernels the zygote on ``control`` forks, in ``cwd`` (else the
    folder the client asks for), owned by ``uid`` (root only, -1: leave it), with the client's
    environment when ``pass_env`` (a sandboxed zygote keeps the sandbox's). ``defaults`` set
    these traits' defaults in a subclass (for clients that take a class, like papermill)."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_client.provisioning import LocalProvisioner
    from traitlets import Bool, Int, Type, Unicode

    class ZygoteProvisioner(LocalProvisioner):
        """Kernels forked by the zygote instead of started by a command."""

        async def launch_kernel(self, cmd, **kwargs):
            km = self.parent
            if km.uid >= 0 and os.geteuid() == 0:
                os.chown(km.connection_file, km.uid, km.uid)
            cwd = km.cwd or str(kwargs.get("cwd") or os.getcwd())
            env = dict(kwargs.get("env") or os.environ) if km.pass_env else None
            answer = call(km.control, "spawn", timeout=120, connection_file=km.connection_file, cwd=cwd, env=env)
            self.process = ZygoteProcess(km.control, int(answer["pid"]))
            self.pid, self.pgid, self.cwd = self.process.pid, None, cwd
            return self.connection_info

    class ZygoteKernelManager(AsyncKernelManager):
        client_factory = Type(quick_client_class(), klass="jupyter_client.asynchronous.AsyncKernelClient")
        control = Unicode(defaults.get("control", ""), help="the zygote's Unix socket")
        cwd = Unicode(defaults.get("cwd", ""), help="the kernels' folder ('' : the one the client asks for)")
        uid = Int(defaults.get("uid", -1), help="owner of the connection file (root only; -1: leave it)")
        pass_env = Bool(defaults.get("pass_env", False), help="give each kernel the client's environment")

        async def _async_pre_start_kernel(self, **kw):
            if self.provisioner is None:
                self.provisioner = ZygoteProvisioner(kernel_id=self.kernel_id or "", kernel_spec=self.kernel_spec,
                                                     parent=self)
            return await super()._async_pre_start_kernel(**kw)

    return ZygoteKernelManager
