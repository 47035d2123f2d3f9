"""Build the course website: every lesson and assignment with its outputs, as static HTML.

``python -m course site`` (or ``make site``) writes ``build/site/``, a Sphinx site (MyST-NB,
sphinx-book-theme; the config is in ``site/conf.py``) that works offline: a landing page with the
course map and the results table, one page per lesson and per assignment, a sidebar, prev/next
links and a local search index. Nothing is executed by Sphinx (``nb_execution_mode = "off"``):

* lessons come from the runner's executed copies in ``build/runs/`` (``make run``) when there
  are any; a lesson with no executed copy there is run now in smoke mode (``course run --smoke
  --device cpu``) into ``build/site-runs/``, which later builds reuse. A page whose outputs come
  from a smoke run says so in a banner at its top. A smoke run older than its notebook is redone;
  an older copy in ``build/runs/`` is used with a warning;
* assignments are the student versions in ``assignments/`` as committed (questions unanswered,
  so not executed); solutions never go on the site.

The executed copies are staged, with a banner cell and a local Colab badge image, into
``build/site-src/`` and built from there; the committed notebooks are not touched.
"""
from __future__ import annotations


import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from course import runner
from course.paths import ROOT

CONF_DIR = ROOT / "site"
DEFAULT_OUT = ROOT / "build" / "site"
DEFAULT_RUNS = runner.DEFAULT_OUT                  # build/runs: `make run` / `make smoke`
DEFAULT_SMOKE_RUNS = ROOT / "build" / "site-runs"  # smoke runs made for the site
COLAB_BADGE_URL = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_FILE = "colab-badge.svg"


def lessons() -> list[Path]:
    return runner.find_notebooks()


def assignments() -> list[Path]:
    return sorted(p for p in (ROOT / "assignments").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def run_mode(executed: dict) -> str:
    """``"smoke"`` or ``"full"``: the SMOKE parameter papermill injected into the executed copy."""
    params = executed.get("metadata", {}).get("papermill", {}).get("parameters", {})
    return "smoke" if params.get("SMOKE", False) else "full"


def _results(folder: Path) -> dict:
    """The runner's results.json rows in ``folder``, by notebook file name."""
    path = folder / "results.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {Path(r["notebook"]).name: {**r, "stand_in_data": data.get("stand_in_data", [])}
            for r in data.get("results", [])}


def executed_lessons(runs: Path, smoke_runs: Path, jobs: int, data_dir: str | None,
                     rerun: bool = False) -> list[dict]:
    """For every lesson: its executed copy, run mode and results row; smoke-runs the missing ones."""
    found, missing = [], []
    for nb in lessons():
        for folder in (runs, smoke_runs):
            executed = folder / nb.name
            if rerun or not executed.is_file():
                continue
            stale = executed.stat().st_mtime < nb.stat().st_mtime
            if stale and folder == smoke_runs:  # our own smoke run, cheap to redo: redo it
                continue
            if stale:
                print(f"site: {executed} is older than {nb.name}: its page shows the outputs of an "
                      f"earlier version (`make run NB={nb.name[:2]}` refreshes it)", flush=True)
            found.append({"source": nb, "executed": executed, "folder": folder})
            break
        else:
            found.append({"source": nb, "executed": smoke_runs / nb.name, "folder": smoke_runs})
            missing.append(nb)
    if missing:
        print(f"site: {len(missing)} lesson(s) have no executed copy in {runs}; running them in smoke "
              f"mode into {smoke_runs} ...", flush=True)
        previous = _results(smoke_runs)  # keep the rows of lessons run for an earlier build
        runner.run(missing, out_dir=smoke_runs, smoke=True, device="cpu", data_dir=data_dir, jobs=jobs)
        rows = {**previous, **_results(smoke_runs)}
        data = json.loads((smoke_runs / "results.json").read_text())
        data["results"] = [r for r in rows.values()]
        (smoke_runs / "results.json").write_text(json.dumps(data, indent=2))
    results = {folder: _results(folder) for folder in (runs, smoke_runs)}
    for item in found:
        item["result"] = results[item["folder"]].get(item["source"].name, {})
        item["mode"] = run_mode(_read(item["executed"])) if item["executed"].is_file() else "missing"
    return found


# ---------------------------------------------------------------------------------------------
# Staging: executed copies + banner, and the landing page
# ---------------------------------------------------------------------------------------------
def _banner(mode: str, result: dict, kind: str) -> str:
    if kind == "assignment":
        return (":::{admonition} Student version\n:class: note\nThis is the **student version** of the assignment, shown as released, "
                "without outputs: you answer the questions and run it yourself (the Colab badge above "
                "opens it). Solutions are not published.\n:::\n")
    parts = []
    if mode == "smoke":
        stand_ins = result.get("stand_in_data") or []
        data = (f" with stand-in data for {', '.join(stand_ins)} (real formats, meaningless numbers)"
                if stand_ins else "")
        parts.append(":::{admonition} Smoke-run outputs\n:class: warning\nThe outputs on this page come from a smoke run "
                     f"(`SMOKE = True`: tiny data, a few steps{data}), made to check that the lesson runs. "
                     "Numbers and plots are not the lesson's real results; the README's results table "
                     "holds those of full runs.\n:::\n")
    if result.get("status", "ok") != "ok":
        parts.append(f":::{{admonition}} This run failed\n:class: error\nThis run failed: {result.get('error', '')}\n:::\n")
    return "\n".join(parts)


def stage_notebook(source: dict, dest: Path, banner: str, badge: str) -> None:
    """Write ``source`` to ``dest`` with ``banner`` under the title and the Colab badge
    image served locally (the link to Colab stays)."""
    nb = json.loads(json.dumps(source))
    # papermill's "injected-parameters" cell (SMOKE = True ...) is the runner's, not the lesson's
    nb["cells"] = [c for c in nb["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = text.replace(COLAB_BADGE_URL, badge)
    if banner:  # right under the page title (the first heading), else as a cell of its own on top
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown" and re.search(r"^#\s", cell["source"], flags=re.M):
                cell["source"] = re.sub(r"^(#\s.*\n?)", lambda m: m.group(1).rstrip("\n") + "\n\n" + banner + "\n",
                                        cell["source"], count=1, flags=re.M)
                break
        else:
            nb["cells"].insert(0, {"cell_type": "markdown", "id": "site-banner", "metadata": {},
                                   "source": banner})
    # a progress bar's widget state would pull the widget manager from a CDN: the text suffices
    nb.get("metadata", {}).pop("widgets", None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")


def title(nb: dict, fallback: str) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            m = re.search(r"^#\s+(.+)$", text, flags=re.M)
            if m:
                return m.group(1).strip()
    return fallback


def _readme_lesson_table() -> dict:
    """``{"00": ("Setup, tensors, CPU vs GPU", "tensor basics, ...")}`` from the README's table."""
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*(\d\d)\s*\|([^|]+)\|([^|]+)\|\s*$", line)
        if m:
            rows.setdefault(m.group(1), (m.group(2).strip(), m.group(3).strip()))
    return rows


def _readme_section(heading: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## )", text, flags=re.M | re.S)
    return m.group(1).strip() if m else ""


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def landing_page(staged_lessons: list[dict], staged_assignments: list[dict]) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    intro = readme.split("\n\n", 2)[1].strip()  # the paragraph under the title
    table = _readme_lesson_table()
    modes = {item["mode"] for item in staged_lessons}
    lines = ["# Deep learning, from numpy backprop to ResNets", "", intro, ""]
    if "smoke" in modes:
        n = sum(item["mode"] == "smoke" for item in staged_lessons)
        lines += [":::{admonition} Smoke-run outputs", ":class: warning", f"**{n} of {len(staged_lessons)} lessons show smoke-run outputs** "
                  "(tiny data, a few steps: they check that a lesson runs, their numbers mean nothing). "
                  "Those pages say so at the top. `make run` executes the lessons in full mode; "
                  "`make site` then publishes those outputs.", ":::", ""]
    lines += ["Every page shows a lesson as it ran, with its plots and printed numbers; nothing needs "
              "installing to read it. To run a lesson yourself, use its *Open in Colab* badge or "
              "`make lab` (see the README).", "", "## Course map", "",
              "| # | lesson | you build | outputs |", "|---|---|---|---|"]
    for item in staged_lessons:
        number = item["source"].name[:2]
        name, build = table.get(number, (item["title"], ""))
        lines.append(f"| {number} | [{_cell(name)}]({item['doc']}.ipynb) | {_cell(build)} | {item['mode']} run |")
    lines += ["", "## Assignments", "", "Graded with nbgrader. The pages show the student versions, "
              "as released: the questions, the visible tests and no solutions.", ""]
    for item in staged_assignments:
        lines.append(f"- [{item['title']}]({item['doc']}.ipynb) (`{item['source'].name}`)")
    lines += ["", "## Results of the runs on this site", "",
              "What the runner (`course run`) recorded for the executed copies shown here: status, wall "
              "seconds and the key numbers each lesson reports with `course.record`.", "",
              "| lesson | run | status | seconds | key numbers |", "|---|---|---|---|---|"]
    for item in staged_lessons:
        r = item["result"]
        metrics = "<br>".join(_cell(f"{k} = {runner._fmt(v)}") for k, v in (r.get("metrics") or {}).items())
        seconds = f"{r['seconds']:.0f}" if "seconds" in r else ""
        lines.append(f"| [{_cell(item['title'])}]({item['doc']}.ipynb) | {item['mode']} | "
                     f"{r.get('status', '?')} | {seconds} | {metrics} |")
    results = _readme_section("Results")
    if results:
        lines += ["", "## Full-mode results (from the README)", "", results]
    lines += ["", "```{toctree}", ":hidden:", ":caption: Lessons", ""]
    lines += [item["doc"] for item in staged_lessons]
    lines += ["```", "", "```{toctree}", ":hidden:", ":caption: Assignments", ""]
    lines += [item["doc"] for item in staged_assignments]
    lines += ["```", ""]
    return "\n".join(lines)


def stage(src: Path, runs: Path, smoke_runs: Path, jobs: int, data_dir: str | None,
          rerun: bool = False) -> tuple[list[dict], list[dict]]:
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    shutil.copy2(CONF_DIR / BADGE_FILE, src / BADGE_FILE)
    staged_lessons = executed_lessons(runs, smoke_runs, jobs, data_dir, rerun)
    for item in staged_lessons:
        nb = _read(item["executed"]) if item["executed"].is_file() else _read(item["source"])
        item["doc"] = f"lessons/{item['source'].stem}"
        item["title"] = title(nb, item["source"].stem)
        stage_notebook(nb, src / f"{item['doc']}.ipynb", _banner(item["mode"], item["result"], "lesson"),
                       f"../{BADGE_FILE}")
        print(f"site: {item['source'].stem}: {item['mode']} run ({item['executed']})", flush=True)
    staged_assignments = []
    for path in assignments():
        nb = _read(path)
        item = {"source": path, "doc": f"assignments/{path.stem}", "title": title(nb, path.stem)}
        stage_notebook(nb, src / f"{item['doc']}.ipynb", _banner("", {}, "assignment"), f"../{BADGE_FILE}")
        staged_assignments.append(item)
    (src / "index.md").write_text(landing_page(staged_lessons, staged_assignments), encoding="utf-8")
    return staged_lessons, staged_assignments


def build(out: Path = DEFAULT_OUT, runs: Path = DEFAULT_RUNS, smoke_runs: Path = DEFAULT_SMOKE_RUNS,
          jobs: int = 2, data_dir: str | None = None, rerun: bool = False) -> Path:
    out, src = Path(out), Path(str(out) + "-src")
    start = time.perf_counter()
    stage(src, Path(runs), Path(smoke_runs), jobs, data_dir, rerun)
    staged = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    # -E: no stale pickles; -W would turn the notebooks' harmless warnings into failures
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-E", "-q", "-c", str(CONF_DIR),
               str(src), str(out), "-d", str(src / ".doctrees")]
    subprocess.run(command, check=True)
    print(f"site: staged in {staged - start:.0f} s, built in {time.perf_counter() - staged:.0f} s: "
          f"open {out / 'index.html'}", flush=True)
    return out


def add_parser(sub) -> None:
    """Add ``site`` to ``course``'s subparsers (``make site``)."""
    p = sub.add_parser("site", help="the course website in build/site/ (make site)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the site folder (build/site)")
    p.add_argument("--runs", type=Path, default=DEFAULT_RUNS,
                   help="executed lessons to publish, e.g. full runs (build/runs)")
    p.add_argument("--smoke-runs", type=Path, default=DEFAULT_SMOKE_RUNS,
                   help="where lessons missing from --runs are run in smoke mode (build/site-runs)")
    p.add_argument("--rerun", action="store_true", help="smoke-run every lesson again, ignoring earlier runs")
    p.add_argument("-j", "--jobs", type=int, default=2, help="smoke runs at a time (default 2)")
    p.add_argument("--data-dir", help="data directory for smoke runs ($COURSE_DATA_DIR)")
    p.set_defaults(func=_site)


def _site(args) -> int:
    build(args.out, args.runs, args.smoke_runs, args.jobs, args.data_dir, args.rerun)
    return 0
