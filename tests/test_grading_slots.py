"""The parallel grader's warm slots (``course.autograde.slots``): kernels forked by a zygote inside
a sandbox, one submission after another, each starting clean.

Each test starts a real slot (bubblewrap, the zygote preloading numpy) and real kernels through
``ZygoteKernelManager``, as the executor does; they skip where there is no sandbox.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from course import kernels
from course.autograde import sandbox, slots

pytestmark = pytest.mark.skipif(sandbox.available() is not None and not os.environ.get("CI"),
                                reason=f"no sandbox here: {sandbox.available()}")
MARKER = f"course-slot-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def slot():
    warm = slots.Slot(0, ["numpy"], dict(os.environ)).start()
    assert warm.ready(), "the zygote did not answer"
    yield warm
    warm.stop()


class Kernel:
    """A kernel of ``slot``, started as the executor starts one; ``run(code)`` -> its stdout."""

    def __init__(self, slot):
        from jupyter_client.utils import run_sync

        self._sync = run_sync
        self.km = slots.kernel_manager(slot.settings, kernel_name=kernels.KERNEL_NAME,
                                       kernel_spec_manager=kernels.spec_manager())
        self._sync(self.km.start_kernel)()
        self.kc = self.km.client()
        self.kc.start_channels()
        self._sync(self.kc.wait_for_ready)(timeout=60)

    def run(self, code: str, timeout: float = 30) -> tuple[str, dict]:
        out = []
        reply = self._sync(self.kc.execute_interactive)(
            code, timeout=timeout, output_hook=lambda m: out.append(m["content"].get("text", "")))
        return "".join(out), reply["content"]

    def close(self):
        self._sync(self.km.shutdown_kernel)(now=True)
        self.kc.stop_channels()


def test_kernels_of_a_slot_run_in_its_sandbox_and_start_clean(slot):
    first = Kernel(slot)
    out, reply = first.run(f"""
import os, socket, subprocess, sys
print(os.getcwd(), os.getppid() != 1, 'numpy' in sys.modules)
open("left.txt", "w").write("x"); open("/tmp/left.txt", "w").write("x")   # (/dev/shm is read-only)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # {MARKER}"], start_new_session=True)
try:
    socket.create_connection(("8.8.8.8", 53), timeout=2); print("NETWORK")
except OSError:
    print("no network")
""")
    assert out.split() == [slot.settings["scratch"], "True", "True", "no", "network"], (out, reply)
    assert _running(MARKER), "the background process did not start"
    first.close()
    assert slots.reset(slot.settings)
    assert not _running(MARKER), "a process of the first submission outlived the reset"
    second = Kernel(slot)
    out, _ = second.run("import os; print('left.txt' in os.listdir('.'), os.path.exists('/tmp/left.txt'), "
                        "os.path.isdir('.grader'))")
    second.close()
    assert out.split() == ["False", "False", "True"], out


def test_an_interrupt_reaches_a_forked_kernel(slot):
    kernel = Kernel(slot)
    msg = kernel.kc.execute("print('looping', flush=True)\nwhile True: pass")
    # Interrupt once, and only when the loop is running: a second SIGINT could land while the kernel
    # handles the first one (a busy machine), and one sent before the cell starts is ignored.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = kernel._sync(kernel.kc.get_iopub_msg)(timeout=deadline - time.monotonic())
        if m["parent_header"].get("msg_id") == msg and m["content"].get("text", "").startswith("looping"):
            break
    else:
        pytest.fail("the cell never started")
    kernel._sync(kernel.km.interrupt_kernel)()
    # skip other replies: on a busy machine wait_for_ready may have asked for kernel_info twice
    reply = {"parent_header": {}}
    while reply["parent_header"].get("msg_id") != msg:
        reply = kernel._sync(kernel.kc.get_shell_msg)(timeout=60)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt", reply
    out, content = kernel.run("print(6 * 7)")
    assert out.strip() == "42", content
    kernel.close()


def test_a_kernel_can_neither_read_nor_keep_its_zygote(slot):
    """The zygote is not dumpable: a kernel of the same user cannot read its memory or environment.
    A kernel can kill it (the sandbox goes with it); the slot then starts a new one."""
    kernel = Kernel(slot)
    out, _ = kernel.run("""
import json
import os
import subprocess
import sys
for name in ("environ", "mem"):
    try:
        open(f"/proc/{os.getppid()}/{name}", "rb").read(16); print("READ", name)
    except OSError as err:
        print("blocked", type(err).__name__)
""")
    assert out.split() == ["blocked", "PermissionError"] * 2, out
    kernel.kc.execute("import os, signal; os.kill(os.getppid(), signal.SIGKILL)")
    for _ in range(100):
        if not slots.alive(slot.settings):
            break
        time.sleep(0.1)
    assert not slots.alive(slot.settings)
    kernel.kc.stop_channels()
    slot.recycle()
    assert slot.ready(), "no new zygote after the old one was killed"
    again = Kernel(slot)
    out, _ = again.run("print('fresh')")
    again.close()
    assert out.strip() == "fresh"


class _Executor:
    """What ``remote.KernelSession`` needs of the grader's executor (``SafeExecute``)."""

    def __init__(self, kernel, kernel_info: dict):
        self.kernel, self.kc, self._kernel_info, self.timeout = kernel, kernel.kc, kernel_info, 30

    def wait_for_reply(self, msg_id):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = self.kernel._sync(self.kc.get_shell_msg)(timeout=deadline - time.monotonic())
            if msg["parent_header"].get("msg_id") == msg_id:
                self.last_reply = msg
                return msg
        return None

    def responsive(self):
        return True


def test_a_probe_reaches_the_grading_kernel_by_message_and_any_other_kernel_by_code(slot):
    """The slot's kernels are grading kernels (``course.kernels.grading``): they say so in their
    kernel_info reply and run a probe sent as a ``course_probe_request``, not as a cell; the grader
    sends code to a kernel that does not say so. Both give the same answer."""
    import numpy as np

    from course.autograde import remote

    kernel = Kernel(slot)
    msg_id = kernel.kc.kernel_info()
    while True:
        reply = kernel._sync(kernel.kc.get_shell_msg)(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            info = reply["content"]
            break
    assert info.get("course_probes") == 1, info
    kernel.run("def double(x):\n    return 2 * x\ncount = get_ipython().execution_count")
    for kernel_info, reply_type in ((info, "course_probe_reply"), ({}, "execute_reply")):
        executor = _Executor(kernel, kernel_info)
        session = remote.KernelSession(executor, slot.settings["exchange"])
        outcome = session.invoke("double", "numpy_call", (np.arange(3.0),), {}, 5)
        assert outcome.kind == "ok", outcome
        assert np.array_equal(outcome.value, [0.0, 2.0, 4.0])
        assert executor.last_reply["msg_type"] == reply_type
    out, _ = kernel.run("print(get_ipython().execution_count - count)")   # neither probe counted as a cell
    kernel.close()
    assert out.strip() == "1", out


def test_a_killed_kernel_is_reaped_before_the_zygote_answers(slot):
    """A SIGKILL through the zygote comes back with the exit code, so shutting a kernel down
    needs no polling for its end."""
    import signal

    kernel = Kernel(slot)
    process = kernel.km.provisioner.process
    process.kill()
    assert process.returncode == -signal.SIGKILL
    assert kernel._sync(kernel.km.is_alive)() is False
    kernel.close()


def test_the_zygote_preloads_what_the_read_only_cells_import(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell("%matplotlib inline\nimport numpy as np\nfrom course import grading\n"
                                      "import not_a_module_anywhere")
    setup.metadata["nbgrader"] = {"solution": False, "grade": False, "locked": True}
    answer = nbformat.v4.new_code_cell("import pandas")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False}
    nb.cells = [setup, answer]
    nbformat.write(nb, tmp_path / "A.ipynb")
    found = slots.preload_modules([tmp_path / "A.ipynb"])
    assert found == ["numpy", "course.grading.probes", "course", "course.grading"], found


def _running(marker: str) -> bool:
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if marker in " ".join(proc.info["cmdline"] or []):
                return True
        except psutil.Error:
            continue
    return False


def test_the_warm_server_is_made_for_one_assignment_and_replaced_once_for_another(tmp_path):
    """``pool.prestart``: a forkserver warmed for one assignment serves it again; grading another
    assignment replaces it, once, by a server for every assignment; the gradebook it was told
    about never leaks into the grader's environment."""
    script = f"""
import json, os
from multiprocessing import forkserver
from course.autograde import pool
pool.PRELOAD = ["json"]   # the mechanism, not the imports
pids = []
for assignment in ("A1", "A1", "A2", "A3"):
    pool.prestart("sqlite:///{tmp_path}/gradebook.db", assignment, ["{tmp_path}/x.ipynb"])
    pids.append(forkserver._forkserver._forkserver_pid)
    assert pool.GRADEBOOK_ENV not in os.environ
print(json.dumps({{"pids": pids, "warmed_for": pool._WARMED_FOR}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    pids = result["pids"]
    assert pids[0] == pids[1] != pids[2] == pids[3], pids
    assert result["warmed_for"] is None
