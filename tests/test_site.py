"""The course website (``make site``, ``course/site.py``) as a reader meets it, in headless Chromium.

One build per test run: ``python -m course site`` publishes the lessons of the test run's one shared
smoke run (``smoke_runs`` in conftest.py: stand-in data, ``kernel_env``) into a temp folder. A local
``python -m http.server`` on 127.0.0.1 serves it. The tests open the landing page, follow the
sidebar and the prev/next links, visit every page and check: no console errors, no request leaving
127.0.0.1 (the site works offline), a rendered plot on every lesson page, the smoke banner, the
Colab badge, and that search finds a lesson. Screenshots of the landing page and of one lesson go to
``build/site-screenshots/``.

Needs Chromium and playwright, like ``tests/test_browser.py`` (whose fixtures it reuses); without
them the tests skip and say why.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from test_browser import browser_context, free_port, page  # noqa: F401 - fixtures, reused

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "site-screenshots"
BUILD_S = 900        # Sphinx over the executed lessons (the smoke runs are made by the smoke_runs fixture)
SERVER_START_S = 20

pytestmark = [pytest.mark.slow, pytest.mark.notebook,   # `make test-fast` skips them
              pytest.mark.xdist_group("smoke")]       # the worker that runs the shared smoke run


def lesson_names() -> list[str]:
    return [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]


def assignment_names() -> list[str]:
    return [p.stem for p in sorted((ROOT / "assignments").glob("*/*.ipynb"))]


@pytest.fixture(scope="module")
def site(browser_context, run_once, kernel_env, smoke_runs):  # noqa: F811 - the fixture
    """The site built once per test run (``run_once``: one build even when xdist splits this module
    across workers), from the lessons' executed copies of the shared smoke run (``smoke_runs``, the
    same run ``test_notebooks.py`` checks) on stand-in data. Asks for the browser first: without
    one the tests skip before the build."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(kernel_env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))

    def build(tmp: Path) -> dict:
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "course", "site", "--out", str(tmp / "site"), "--runs", str(tmp / "no-runs"),
             "--smoke-runs", smoke_runs["folder"], "--jobs", "2"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUILD_S)
        return {"rc": done.returncode, "log": (done.stdout[-4000:] + "\n" + done.stderr[-4000:]),
                "seconds": round(time.monotonic() - start), "load": round(os.getloadavg()[0], 2),
                "site": str(tmp / "site")}

    built = run_once("course-site", build)
    print(f"site build: {built['seconds']} s (load average {built['load']})")
    assert built["rc"] == 0, f"python -m course site failed:\n{built['log']}"
    site = Path(built["site"])
    assert (site / "index.html").is_file(), built["log"]
    return site


@pytest.fixture(scope="module")
def server(site):
    """``python -m http.server`` on 127.0.0.1 and a free port, serving the built site."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                "--directory", str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                with urllib.request.urlopen(base, timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"http.server did not answer on {base} within {SERVER_START_S} s")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


class Watch:
    """What a page did wrong: console errors, uncaught exceptions, failed or off-site requests."""

    def __init__(self, page, base: str):  # noqa: F811
        self.problems: list[str] = []
        host = urlparse(base).netloc
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"uncaught exception: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"))
        page.on("request", lambda r: urlparse(r.url).netloc not in ("", host)
                and r.url.split(":")[0] in ("http", "https")
                and self.problems.append(f"request leaves the site (offline it fails): {r.url}"))

    def take(self) -> list[str]:
        found, self.problems[:] = list(self.problems), []
        return found


def open_page(page, url: str) -> None:  # noqa: F811
    """Go to ``url`` and wait until its images have loaded (or failed) and MathJax has typeset."""
    page.goto(url, wait_until="load")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=30_000)
    page.evaluate("""() => (window.MathJax && MathJax.startup && MathJax.startup.promise)
        ? MathJax.startup.promise.then(() => true) : true""")
    page.wait_for_timeout(200)  # late console messages of the theme's scripts


def page_images(page) -> list[dict]:  # noqa: F811
    """Images in the notebook outputs, with their natural size (0 when they failed to load)."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('.cell_output img')).map(
        i => ({src: i.getAttribute('src'), w: i.naturalWidth, complete: i.complete}))""")


def sidebar_links(page, base: str) -> list[str]:  # noqa: F811
    hrefs = page.evaluate("""() => Array.from(document.querySelectorAll(
        '.bd-sidebar-primary nav a.reference.internal')).map(a => a.href)""")
    return [urljoin(base, h).split("#")[0] for h in hrefs]


def test_landing_page_links_every_lesson_and_assignment(server, page):  # noqa: F811
    watch = Watch(page, server)
    open_page(page, server)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "landing.png"))  # what a reader sees first
    assert not watch.take(), "landing page"
    text = page.locator("article").inner_text()
    assert "Course map" in text and "Results of the runs on this site" in text
    assert "smoke-run outputs" in text.lower(), "the landing page does not say that outputs are smoke runs"
    links = sidebar_links(page, server)
    for name in lesson_names():
        assert any(link.endswith(f"/lessons/{name}.html") for link in links), f"sidebar lacks lesson {name}"
    for name in assignment_names():
        assert any(link.endswith(f"/assignments/{name}.html") for link in links), f"sidebar lacks {name}"
    table = page.locator("article table").first.inner_text()
    for name in lesson_names():
        assert name[:2] in table, f"the course map lacks lesson {name[:2]}"
    searches = [b for b in page.locator(".search-button__button").all() if b.is_visible()]
    assert len(searches) == 1, f"{len(searches)} visible search boxes/buttons on the landing page, want one"


def test_next_links_walk_through_every_page(server, page):  # noqa: F811
    """From the landing page, "next" leads through every lesson in order, then every assignment."""
    open_page(page, server)
    visited = []
    for _ in range(len(lesson_names()) + len(assignment_names()) + 2):
        nxt = page.locator("a.right-next")
        if not nxt.count():
            break
        nxt.first.click()
        page.wait_for_load_state("load")
        visited.append(Path(urlparse(page.url).path).stem)
    assert visited == lesson_names() + assignment_names()


def test_every_page_loads_cleanly_and_lessons_show_plots(server, page):  # noqa: F811
    watch = Watch(page, server)
    problems = []
    for name in lesson_names():
        open_page(page, urljoin(server, f"lessons/{name}.html"))
        images = page_images(page)
        shown = [i for i in images if i["w"] > 0]
        if not shown:
            problems.append(f"lessons/{name}: no plot image rendered ({images})")
        if len(shown) < len(images):
            problems.append(f"lessons/{name}: images that did not load: {[i for i in images if i['w'] == 0]}")
        problems += [f"lessons/{name}: {p}" for p in watch.take()]
        banner = page.locator(".admonition.warning", has_text="Smoke-run outputs")
        if not banner.count() or not banner.first.is_visible():
            problems.append(f"lessons/{name}: no visible smoke-run banner")
        badge = page.locator("a[href^='https://colab.research.google.com/'] img")
        if not badge.count() or badge.first.evaluate("i => i.naturalWidth") == 0:
            problems.append(f"lessons/{name}: no Colab badge")
        if name.startswith("10_"):
            page.locator(".cell_output img").first.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / f"lesson_{name}.png"))
    for name in assignment_names():
        open_page(page, urljoin(server, f"assignments/{name}.html"))
        problems += [f"assignments/{name}: {p}" for p in watch.take()]
        if "YOUR CODE HERE" not in page.locator("article").inner_text():
            problems.append(f"assignments/{name}: not the student version")
    assert not problems, "\n".join(problems)


def test_math_renders_offline(server, page):  # noqa: F811
    watch = Watch(page, server)
    open_page(page, urljoin(server, "lessons/03_backprop_numpy.html"))
    page.wait_for_selector("mjx-container", timeout=20_000)
    assert not watch.take()


def test_search_finds_a_lesson(server, page):  # noqa: F811
    watch = Watch(page, server)
    open_page(page, urljoin(server, "search.html?q=backpropagation"))
    results = page.locator("#search-results li, ul.search li")
    results.first.wait_for(timeout=20_000)
    hrefs = [a.get_attribute("href") or "" for a in page.locator("ul.search li a").all()]
    assert any("lessons/" in h for h in hrefs), hrefs
    assert not watch.take()


def _sources(nb: dict) -> str:
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"])


def test_site_has_no_solutions(site):
    """Only the student versions: no nbgrader markers anywhere, and no line of solution code in the
    assignment notebooks the site serves (``_sources/``, the download button's copies)."""
    marked = [str(p.relative_to(site)) for p in site.rglob("*") if p.is_file() and p.suffix in (".html", ".ipynb", ".txt", ".js")
              and any(m in p.read_text(errors="replace") for m in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"))]
    assert not marked, f"nbgrader solution/hidden-test markers on the site: {marked}"
    served = "\n".join(_sources(json.loads(p.read_text())) for p in site.rglob("*.ipynb")
                        if "assignments" in p.parts)
    assert "YOUR CODE HERE" in served
    leaked = []
    for path in (ROOT / "solutions").rglob("*.ipynb"):
        text = _sources(json.loads(path.read_text()))
        for block in text.split("### BEGIN SOLUTION")[1:]:
            solution = block.split("### END SOLUTION", 1)[0]
            leaked += [f"{path.name}: {ln.strip()}" for ln in solution.splitlines()
                       if len(ln.strip()) >= 30 and ln.strip() in served]
    assert not leaked, "solution lines on the site:\n" + "\n".join(leaked[:5])


def test_lesson_pages_leave_out_the_runners_injected_parameters(site):
    """Papermill's ``injected-parameters`` cell (``SMOKE = True`` ...) belongs to the run, not to
    the lesson: the published notebooks do not have it, and the lesson's own parameters cell stays."""
    for name in lesson_names():
        nb = json.loads((site / "_sources" / "lessons" / f"{name}.ipynb").read_text()) \
            if (site / "_sources" / "lessons" / f"{name}.ipynb").is_file() else None
        page = (site / "lessons" / f"{name}.html").read_text()
        assert "injected-parameters" not in page, name
        if nb is not None:
            tags = [t for c in nb["cells"] for t in c.get("metadata", {}).get("tags", [])]
            assert "injected-parameters" not in tags and "parameters" in tags, name
