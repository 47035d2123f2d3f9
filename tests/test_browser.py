"""The course as a student meets it: JupyterLab in a real (headless) Chromium.

* Lesson 00 and one training lesson open in JupyterLab; *Run > Run All Cells* runs them, and the
  test checks that every code cell ran, that the plots and the expected lines appear, and that no
  cell shows an error or anything on stderr (the pink boxes a student would see). Screenshots go
  to ``build/screenshots/``.
* nbgrader's formgrader lists the five assignments A1-A5.

JupyterLab starts the way ``make lab`` starts it: the venv's ``jupyter lab`` with its root at the
course folder and that folder as working directory (where nbgrader finds ``nbgrader_config.py``).
The folder is a temporary copy of the repository's course content (``notebooks/``,
``solutions/``, ``assignments/``, ``nbgrader_config.py``), so the browser opens the real lessons
while the repository gets no checkpoints, gradebook or Lab state. The one edit: the two lessons'
parameters cell says ``SMOKE = True`` and ``DEVICE = "cpu"``, as a student would set it. Kernels
read the stand-in data of ``tests/fakedata.py`` (the ``kernel_env`` fixture).

Needs Chromium and the Python package ``playwright``. ``.ci/run`` installs Debian's chromium when it
is missing and ``make install`` installs playwright (the ``test`` extra); where either cannot be had
the tests skip and say why. Playwright drives the system Chromium (``executable_path``): its own
browser download is not needed. Set ``COURSE_CHROMIUM=/path/to/chrome`` to use another binary.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from course.paths import ROOT

SCREENSHOTS = ROOT / "build" / "screenshots"
FIRST_LESSON = "notebooks/00_setup_tensors.ipynb"
# The first of these that exists is the training lesson under test.
TRAINING_LESSONS = ("notebooks/10_softmax_mnist.ipynb", "notebooks/12_cnn_mnist.ipynb",
                    "notebooks/07_logistic_regression.ipynb")
ASSIGNMENTS = ("A1", "A2", "A3", "A4", "A5")
COURSE_CONTENT = ("notebooks", "solutions", "assignments", "nbgrader_config.py")
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/lib/chromium-browser/chromium-browser",
                       "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
SERVER_START_S = 60      # seconds for `jupyter lab` to answer /api/status
KERNEL_READY_S = 60      # seconds for the notebook's kernel to connect and go idle
RUN_ALL_S = 180          # seconds for "Run All Cells" on a smoke-mode lesson (busy 2-core CI)
FORMGRADER_S = 90        # the first visit creates the gradebook (nbgrader runs `alembic`: slow)

pytestmark = [pytest.mark.slow, pytest.mark.notebook]  # `make test-fast` skips them


# ---------------------------------------------------------------------------------------------
# Browser and server
# ---------------------------------------------------------------------------------------------
def chromium_candidates() -> list[str]:
    """Chromium binaries to try: $COURSE_CHROMIUM, else the system's, then playwright's own."""
    wanted = os.environ.get("COURSE_CHROMIUM")
    if wanted:
        return [wanted] if Path(wanted).exists() else []
    found = []
    for name in CHROMIUM_CANDIDATES:
        path = name if Path(name).is_absolute() else shutil.which(name)
        if path and Path(path).exists() and path not in found:
            found.append(path)
    try:  # a browser that `playwright install chromium` downloaded
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            path = p.chromium.executable_path
        if Path(path).exists():
            found.append(path)
    except Exception:  # noqa: BLE001 - playwright missing or without its browsers
        pass
    return found


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """A fresh headless Chromium profile driven by playwright; skips (with the reason) without one."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the Python package playwright is not installed (`make install` installs the "
                    "test extra, or `pip install playwright`)")
    candidates = chromium_candidates()
    if not candidates:
        pytest.skip("no Chromium found (.ci/run installs it: `apt-get install chromium` or "
                    "`playwright install chromium`; or set COURSE_CHROMIUM to a Chrome binary)")
    failures = []
    with sync_playwright() as p:
        for chromium in candidates:
            try:
                context = p.chromium.launch_persistent_context(
                    str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium,
                    headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
                break
            except Exception as err:  # noqa: BLE001 - e.g. a snap stub: try the next one
                failures.append(f"{chromium}: {str(err).splitlines()[0]}")
        else:
            pytest.skip("no Chromium starts under playwright: " + "; ".join(failures))
        try:
            yield context
        finally:
            context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_smoke_parameters(path: Path) -> None:
    """Edit the lesson's parameters cell in place: ``SMOKE = True`` and ``DEVICE = "cpu"``."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{path.name}: expected one cell tagged 'parameters', found {len(cells)}"
    cell = cells[0]
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    source, n_smoke = re.subn(r"^(SMOKE\s*=\s*)(True|False)\b", r"\1True", source, flags=re.M)
    source, n_device = re.subn(r"""^(DEVICE\s*=\s*)(["'][^"'\n]*["'])""", r'\1"cpu"', source, flags=re.M)
    assert n_smoke == 1 and n_device == 1, (
        f"{path.name}: the parameters cell must assign SMOKE = True/False and DEVICE = \"...\" "
        f"once each, got:\n{source}")
    cell["source"] = source
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def copy_course(dest: Path, smoke_lessons: list[str]) -> Path:
    """Copy the course content into ``dest`` and switch ``smoke_lessons`` to smoke mode."""
    for name in COURSE_CONTENT:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns(
                ".ipynb_checkpoints", "checkpoints", "__pycache__", "gradebook.db"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    for rel in smoke_lessons:
        set_smoke_parameters(dest / rel)
    return dest


def write_lab_settings(settings: Path) -> None:
    """Lab settings for a quiet test: no news or update pop-ups over the notebook."""
    folder = settings / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))


class Lab:
    """A running ``jupyter lab`` (like ``make lab``) on a free port with a random token."""

    def __init__(self, root: Path, state: Path, env: dict):
        self.root, self.port, self.token = root, free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        jupyter = Path(sys.executable).parent / "jupyter"
        assert jupyter.exists(), f"{jupyter} is missing: `make install` installs JupyterLab (the lab extra)"
        for name in ("settings", "workspaces", "runtime"):
            (state / name).mkdir(parents=True, exist_ok=True)
        write_lab_settings(state / "settings")
        env = {**env, "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
               "JUPYTER_RUNTIME_DIR": str(state / "runtime")}
        self.log_path = state / "jupyter-lab.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(jupyter), "lab", "--no-browser", "--allow-root", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.root_dir={root}", "--LabApp.default_url=/lab/tree/notebooks"],
            cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("/api/status"), timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"jupyter lab did not answer within {SERVER_START_S} s:\n{self.log_tail()}")

    def shutdown_kernels(self) -> None:
        """Stop every kernel of this server (a finished lesson's kernel holds memory)."""
        with urllib.request.urlopen(self.url("/api/kernels"), timeout=10) as reply:
            kernels = json.loads(reply.read())
        for kernel in kernels:
            request = urllib.request.Request(self.url(f"/api/kernels/{kernel['id']}"), method="DELETE")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(request, timeout=20).close()

    def log_tail(self, n: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        """SIGTERM to the server's own PID: it shuts its kernels down."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def training_lesson() -> str:
    for rel in TRAINING_LESSONS:
        if (ROOT / rel).exists():
            return rel
    pytest.fail(f"none of the training lessons {', '.join(TRAINING_LESSONS)} exists")


@pytest.fixture(scope="module")
def lab(browser_context, tmp_path_factory, kernel_env):
    """JupyterLab serving a temp copy of the course, lessons in smoke mode, stand-in data.

    (It asks for the browser first, so that without one the tests skip before a server starts.)
    """
    lessons = [rel for rel in (FIRST_LESSON, *TRAINING_LESSONS) if (ROOT / rel).exists()]
    root = copy_course(tmp_path_factory.mktemp("course"), lessons)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.pop("MPLBACKEND", None)  # conftest sets Agg; a student's kernel draws inline plots
    env.update(kernel_env)
    # nbgrader runs `alembic` by name when it creates the gradebook: the venv's bin goes first
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    server = Lab(root, tmp_path_factory.mktemp("lab-state"), env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    try:
        yield page
    finally:
        page.close()


# ---------------------------------------------------------------------------------------------
# Running a notebook the way a student does
# ---------------------------------------------------------------------------------------------
_PROMPTS_JS = """() => Array.from(document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')).map(e => e.textContent.trim())"""


def wait_kernel_idle(page, timeout_s: float) -> None:
    """Wait for the status bar's "Python 3 (ipykernel) | Idle" (the kernel is connected)."""
    page.get_by_text(re.compile(r"Python 3 \(ipykernel\)\s*\|\s*Idle")).first.wait_for(
        timeout=timeout_s * 1000)


def run_all_cells(page) -> None:
    """Run > Run All Cells, through the menu bar as a student would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def kernel_is_idle(page) -> bool:
    return page.get_by_text(re.compile(r"Python 3 \(ipykernel\)\s*\|\s*Idle")).count() > 0


def wait_all_executed(page, timeout_s: float) -> tuple[list[str], bool]:
    """Wait until every code cell's prompt shows ``[n]:`` and the kernel is idle.

    Returns the prompts and whether every cell ran; False as soon as Run All has stopped early
    (a cell raised: the cells below stay ``[ ]:`` while the kernel is idle).
    """
    deadline = time.monotonic() + timeout_s
    prompts: list[str] = []
    stalled = 0
    while time.monotonic() < deadline:
        prompts = page.evaluate(_PROMPTS_JS)
        done = [re.fullmatch(r"\[\d+\]:", p) is not None for p in prompts]
        if prompts and all(done):
            wait_kernel_idle(page, max(1.0, deadline - time.monotonic()))
            return prompts, True
        running = any(p == "[*]:" for p in prompts)
        stalled = stalled + 1 if any(done) and not running and kernel_is_idle(page) else 0
        if stalled >= 6:  # idle for 3 s with cells left: Run All stopped at an error
            return prompts, False
        time.sleep(0.5)
    raise AssertionError(f"Run All did not finish within {timeout_s} s; prompts: {prompts}")


def save_notebook(page, path: Path) -> dict:
    """Ctrl+S in the notebook; return the saved file's JSON once it holds the outputs."""
    before = path.stat().st_mtime_ns
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.stat().st_mtime_ns != before:
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:  # caught mid-write
                pass
        time.sleep(0.2)
    raise AssertionError(f"{path.name} was not saved after Ctrl+S")


def output_problems(nb: dict) -> list[str]:
    """Error outputs and stderr text in a saved notebook (what shows in pink in Lab)."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            if out["output_type"] == "error":
                found.append(f"cell {i}: {out['ename']}: {out['evalue']}")
            elif out["output_type"] == "stream" and out.get("name") == "stderr":
                text = "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
                found.append(f"cell {i} wrote to stderr: {text.strip()[:300]}")
    return found


def output_texts(page) -> list[str]:
    """The text of every output area (never the cell sources, which hold the same words)."""
    return page.evaluate("""() => Array.from(document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')).map(e => e.textContent)""")


def screenshot(page, locator, name: str) -> Path:
    """Scroll ``locator`` into view and save what the student sees as build/screenshots/NAME."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    if locator is not None and locator.count():
        locator.first.evaluate("e => e.scrollIntoView({block: 'center'})")
        time.sleep(0.3)  # let lazy rendering paint
    page.screenshot(path=str(path), full_page=True)
    return path


def run_lesson_in_browser(page, lab: Lab, rel: str) -> tuple[dict, list[str]]:
    """Open ``rel`` in Lab, run all cells, save; return the saved notebook and output texts."""
    page.goto(lab.url(f"/lab/tree/{rel}?reset"))  # reset: do not reopen the last test's tabs
    wait_kernel_idle(page, KERNEL_READY_S)
    cells = len([c for c in json.loads((lab.root / rel).read_text())["cells"] if c["cell_type"] == "code"])
    start = time.monotonic()
    run_all_cells(page)
    try:
        prompts, finished = wait_all_executed(page, RUN_ALL_S)
    except AssertionError:
        screenshot(page, None, Path(rel).stem + "_FAILED.png")
        raise
    print(f"{rel}: Run All Cells took {time.monotonic() - start:.1f} s in the browser")
    nb = save_notebook(page, lab.root / rel)
    if not finished:
        shot = screenshot(page, page.locator(".jp-OutputArea-output[data-mime-type*='stderr']"),
                          Path(rel).stem + "_FAILED.png")
        raise AssertionError(f"{rel}: Run All stopped early (prompts {prompts}); see {shot}:\n"
                             + "\n".join(output_problems(nb)))
    assert len(prompts) == cells, f"{rel}: the page shows {len(prompts)} code cells, the file has {cells}"
    return nb, output_texts(page)


def check_lesson_page(page, lab: Lab, rel: str, expect: list[re.Pattern]) -> dict:
    """Run ``rel`` and assert: no error/stderr, plots shown, ``expect`` patterns in outputs."""
    try:
        nb, texts = run_lesson_in_browser(page, lab, rel)
        stem = Path(rel).stem
        images = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img")
        shot = screenshot(page, images, f"{stem}_plot.png")
        screenshot(page, page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").last, f"{stem}_end.png")
        print(f"screenshots: {shot} and {stem}_end.png")
        n_images = images.count()
    finally:
        lab.shutdown_kernels()  # a finished lesson's kernel only holds memory

    problems = output_problems(nb)  # the saved file is the page's model: what the student saw
    assert not problems, f"{rel} shows error output:\n" + "\n".join(problems)
    unexecuted = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and c.get("execution_count") is None]
    assert not unexecuted, f"{rel}: code cells {unexecuted} did not run"
    pngs = sum("image/png" in out.get("data", {}) for c in nb["cells"] if c["cell_type"] == "code"
               for out in c["outputs"])
    assert pngs >= 1, f"{rel} drew no plot"
    assert n_images >= 1, f"{rel}: the notebook holds {pngs} plots but the page shows none"
    joined = "\n".join(texts)
    for pattern in expect:
        assert pattern.search(joined), f"{rel}: no output matches {pattern.pattern!r}"
    return nb


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------
USING_CPU = re.compile(r"Using device: cpu")


def test_lesson_00_runs_in_the_browser(lab, page):
    assert (ROOT / FIRST_LESSON).exists(), f"{FIRST_LESSON} is missing"
    check_lesson_page(page, lab, FIRST_LESSON, [USING_CPU, re.compile(r"torch")])


def test_training_lesson_runs_in_the_browser(lab, page):
    rel = training_lesson()
    nb = check_lesson_page(page, lab, rel, [USING_CPU, re.compile(r"recorded: .*\w+ = ")])
    from course.runner import notebook_metrics

    assert notebook_metrics(nb), f"{rel} recorded no key numbers (course.record)"


def test_formgrader_lists_the_assignments(lab, page):
    assert (lab.root / "nbgrader_config.py").exists(), "nbgrader_config.py is missing at the top level"
    page.goto(lab.url("/formgrader"))
    names = page.locator("tr td.name")  # rows of Manage Assignments
    listed: list[str] = []
    try:
        deadline = time.monotonic() + FORMGRADER_S
        while time.monotonic() < deadline:
            listed = [t.strip() for t in names.all_inner_texts()]
            if all(any(n.startswith(a) for n in listed) for a in ASSIGNMENTS):
                break
            time.sleep(0.5)
    finally:
        print(f"screenshot: {screenshot(page, None, 'formgrader.png')}")
    assert all(any(n.startswith(a) for n in listed) for a in ASSIGNMENTS), (
        f"formgrader's Manage Assignments lists {listed}, expected {', '.join(ASSIGNMENTS)}")
    # a course-local exchange (nbgrader_config.py): no "exchange directory does not exist" warning,
    # so release and collect work for an instructor on one machine
    for warning in ("#warning-exchange", "#warning-course-id"):
        assert page.locator(warning).count() == 0, f"formgrader shows {warning}: {page.locator(warning).inner_text()}"
