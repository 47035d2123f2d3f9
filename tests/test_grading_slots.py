"""The parallel grader's warm slots (``course.autograde.slots``): kernels forked by a zygote inside
a sandbox, one submission after another, each starting clean.

Each test starts a real slot (bubblewrap, the zygote preloading numpy) and real kernels through
``ZygoteKernelManager``, as the executor does; they skip where there is no sandbox.
"""
from __future__ import annotations

import os
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
    reply = kernel._sync(kernel.kc.get_shell_msg)(timeout=60)
    assert reply["parent_header"]["msg_id"] == msg
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt", reply
    out, content = kernel.run("print(6 * 7)")
    assert out.strip() == "42", content
    kernel.close()


def test_a_kernel_can_neither_read_nor_keep_its_zygote(slot):
    """The zygote is not dumpable: a kernel of the same user cannot read its memory or environment.
    A kernel can kill it (the sandbox goes with it); the slot then starts a new one."""
    kernel = Kernel(slot)
    out, _ = kernel.run("""
import os
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
