"""Colab readiness: every notebook opens in Colab and installs the course there, from ONE address.

For every lesson, assignment source and released assignment:

* cell 0 starts with the "Open in Colab" badge pointing at ``course.paths.GITHUB_REPO`` / ``GITHUB_BRANCH``
  and at the notebook's own path, and no other Colab or GitHub link names another repository;
* cell 1 is the install cell (tag ``colab``), exactly ``course.notebooks.install_source_for()``
  (assignments pin the release tag ``v<version>``, so students run the checks that grade them): it
  installs this package in Colab and does nothing anywhere else (executed here both ways);
* nothing mounts Google Drive, asks for uploads, or uses absolute local paths or files of this
  repository that a Colab runtime would not have (only the notebook and the package get there).

``make colab-links REPO=owner/name`` (``python -m course colab-links``) is run on a COPY of the
repository: it must rewrite every badge and install cell and ``course/repository.json`` (data: no
Python source is edited), leave them consistent, and rewriting back must give the original files.
"""
from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course import notebooks
from course.paths import GITHUB_BRANCH, GITHUB_REPO, ROOT

ALL = notebooks.all_notebooks(ROOT)
IDS = [p.relative_to(ROOT).as_posix() for p in ALL]
COLAB_LINK = re.compile(r"colab\.research\.google\.com/github/([^/\s)]+/[^/\s)]+)/blob/([^/\s)]+)/([^\s)\"']+)")
GITHUB_LINK = re.compile(r"github\.com/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?(?=[@/\s)\"']|$)")
FORBIDDEN_ANYWHERE = {
    "mounts Google Drive": re.compile(r"google\.colab\s+import\s+drive|drive\.mount\(|/content/drive"),
    "asks for a file upload": re.compile(r"google\.colab\s+import\s+files|files\.upload\("),
    "uses the measurement-only data or shim": re.compile(r"shared/data|measure-shim"),
}
# Absolute paths of one machine (in code; prose may show examples). Not preceded by a word
# character, ':', '/' or '.', so URLs such as https://host/home/x do not count.
ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~])(?:/(?:home|Users|root|work|tmp|mnt|content|data|opt|srv)/"
                           r"|[A-Za-z]:\\\\?[A-Za-z])")
GOOGLE_COLAB_IMPORT = re.compile(r"google\.colab")


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_there_are_notebooks_to_check():
    assert any(_rel(p).startswith("notebooks/") for p in ALL), "no lessons found"


# ---------------------------------------------------------------------------------------------
# Badge and install cell of every notebook
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_cell_0_starts_with_the_badge_for_this_notebook(path):
    rel, cells = _rel(path), _read(path)["cells"]
    assert cells and cells[0]["cell_type"] == "markdown", f"{rel}: cell 0 must be markdown"
    first = _source(cells[0])
    assert first.startswith(notebooks.badge(rel)), (
        f"{rel}: cell 0 must START with {notebooks.badge(rel)!r} (run `make colab-links REPO="
        f"{GITHUB_REPO}`); it starts with {first[:160]!r}")
    after = first[len(notebooks.badge(rel)):]
    assert re.match(r"\s*\n\s*#\s", after), f"{rel}: the title (`# ...`) must follow the badge in cell 0"


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_every_colab_and_github_link_names_this_repository(path):
    """No stale badge or install address of another fork or branch anywhere in the notebook."""
    rel = _rel(path)
    for i, cell in enumerate(_read(path)["cells"]):
        text = _source(cell)
        for repo, branch, target in COLAB_LINK.findall(text):
            assert (repo, branch) == (GITHUB_REPO, GITHUB_BRANCH), (
                f"{rel} cell {i}: a Colab link points at {repo}@{branch}, not {GITHUB_REPO}@{GITHUB_BRANCH}")
            assert (ROOT / target).is_file(), f"{rel} cell {i}: a Colab link points at {target}, which does not exist"
        if GOOGLE_COLAB_IMPORT.search(text) or "git+https" in text:
            for repo in GITHUB_LINK.findall(text):
                assert repo == GITHUB_REPO, f"{rel} cell {i}: installs from {repo}, not {GITHUB_REPO}"


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_cell_1_is_the_install_cell(path):
    rel, cells = _rel(path), _read(path)["cells"]
    assert len(cells) > 1 and cells[1]["cell_type"] == "code", f"{rel}: cell 1 must be a code cell"
    assert "colab" in cells[1].get("metadata", {}).get("tags", []), f"{rel}: cell 1 must be tagged 'colab'"
    assert _source(cells[1]).strip() == notebooks.install_source_for(rel).strip(), (
        f"{rel}: cell 1 must be exactly course.notebooks.install_source_for() (run `make colab-links`)")
    installs = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and "%pip install" in _source(c)]
    assert installs == [1], f"{rel}: only cell 1 may install packages, found %pip install in cells {installs}"


def _run_install_cell(in_colab: bool, monkeypatch) -> list[tuple[str, str]]:
    """Execute the install cell as IPython would; return the magics it ran as (name, line)."""
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(notebooks.install_source())
    calls = []

    class FakeShell:
        def run_line_magic(self, name, line, *args, **kwargs):
            calls.append((name, line))

    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(code, "<install cell>", "exec"), {"get_ipython": lambda: FakeShell()})  # noqa: S102
    return calls


def test_install_cell_does_nothing_outside_colab(monkeypatch):
    assert _run_install_cell(False, monkeypatch) == []


def test_install_cell_installs_this_package_from_the_repository_in_colab(monkeypatch):
    import tomllib

    calls = _run_install_cell(True, monkeypatch)
    assert len(calls) == 1 and calls[0][0] == "pip", calls
    line = calls[0][1]
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    expected = f"{name} @ git+https://github.com/{GITHUB_REPO}@{GITHUB_BRANCH}"
    assert expected in line, f"the install cell runs `%pip {line}`, expected it to install {expected!r}"


# ---------------------------------------------------------------------------------------------
# Nothing a Colab runtime lacks
# ---------------------------------------------------------------------------------------------
def _written_files(cells: list[dict]) -> set[str]:
    """Files the notebook writes itself with %%writefile."""
    found = set()
    for cell in cells:
        m = re.match(r"%%writefile\s+(?:-a\s+)?(\S+)", _source(cell))
        if m:
            found.add(Path(m.group(1)).as_posix())
    return found


@functools.lru_cache(maxsize=1)
def _ignored() -> frozenset:
    """Files in the checkout that git ignores (what notebooks write, e.g. A4's weights file after a
    smoke run): not files of the repository. Empty without git."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--others", "--ignored", "--exclude-standard"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(out.stdout.splitlines()) if out.returncode == 0 else frozenset()


def _repo_files_named(path: Path, code: str) -> list[str]:
    """Strings in ``code`` that name a file of this repository (relative to the notebook or root)."""
    words = re.findall(r"""["']([^"'\n]{3,200})["']""", code)
    words += [w for line in code.splitlines() if line.lstrip().startswith(("!", "%"))
              for w in line.split()[1:]]
    hits = []
    for word in words:
        word = word.strip()
        if "/" not in word and not re.search(r"\.(py|csv|gz|json|pt|pth|ipynb|txt|npz|pkl)$", word):
            continue
        if "://" in word or word.startswith(("-", "{")):
            continue
        for base in (path.parent, ROOT):
            try:
                target = (base / word).resolve()
            except (OSError, ValueError):
                continue
            if target.is_file() and target != path.resolve() and ROOT in target.parents \
                    and not {".venv", "build", "checkpoints", ".git"} & set(target.relative_to(ROOT).parts) \
                    and target.relative_to(ROOT).as_posix() not in _ignored():
                hits.append(word)
                break
    return hits


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_no_drive_uploads_local_paths_or_repository_files(path):
    """In Colab only the notebook and the pip-installed package exist: nothing else may be needed."""
    rel, cells = _rel(path), _read(path)["cells"]
    written = _written_files(cells)
    problems = []
    for i, cell in enumerate(cells):
        text = _source(cell)
        for what, pattern in FORBIDDEN_ANYWHERE.items():
            if pattern.search(text):
                problems.append(f"cell {i} {what}: {pattern.search(text).group(0)!r}")
        if cell["cell_type"] != "code" or i == 1:
            continue
        m = ABSOLUTE_PATH.search(text)
        if m:
            line = text[text.rfind("\n", 0, m.start()) + 1:].split("\n", 1)[0]
            problems.append(f"cell {i} uses an absolute local path: {line.strip()!r}")
        needed = [w for w in _repo_files_named(path, text) if Path(w).as_posix() not in written]
        if needed:
            problems.append(f"cell {i} needs {needed}, files of this repository that a Colab runtime "
                            f"does not have (write them from the notebook with %%writefile, or ship "
                            f"them in the course package)")
    assert not problems, f"{rel}:\n" + "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# `make colab-links` on a copy of the repository
# ---------------------------------------------------------------------------------------------
def _copy_repo(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "checkpoints", "*.pt")
    for name in ("course", *notebooks.NOTEBOOK_DIRS):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _course_cli(copy: Path, *args: str, python: bool = False) -> str:
    """``python -m course ...`` (``python ...`` with ``python``) run inside the copy, importing the
    copy's package (checked)."""
    env = {"PYTHONPATH": str(copy), "PATH": str(Path(sys.executable).parent)}
    where = subprocess.run([sys.executable, "-c", "import course; print(course.__file__)"], cwd=copy,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(copy.resolve()), (
        f"the copy would import the real package ({where}); refusing to rewrite the repository")
    result = subprocess.run([sys.executable, *([] if python else ["-m", "course"]), *args], cwd=copy, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"course {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _problems_in(copy: Path) -> list[str]:
    code = ("import json; from course import notebooks as n; "
            "print(json.dumps([m for p in n.all_notebooks() for m in n.problems(p)]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, env={"PYTHONPATH": str(copy)},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def _content(raw: bytes) -> dict:
    """A notebook's JSON with each cell's source as one string (nbformat stores either form)."""
    nb = json.loads(raw)
    for cell in nb.get("cells", []):
        cell["source"] = _source(cell)
    return nb


def _snapshot(root: Path) -> dict[str, bytes]:
    files = [p for d in notebooks.NOTEBOOK_DIRS for p in sorted((root / d).rglob("*.ipynb"))
             if ".ipynb_checkpoints" not in p.parts]
    files += sorted((root / "course").rglob("*.py")) + [root / "course" / "repository.json"]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


@pytest.mark.slow   # rewrites every notebook of a copy twice, in subprocesses (~20 s)
def test_colab_links_rewrites_every_notebook_and_round_trips(tmp_path):
    real_before = _snapshot(ROOT)
    copy = _copy_repo(tmp_path / "repo")
    original = _snapshot(copy)
    n_notebooks = sum(rel.endswith(".ipynb") for rel in original)

    out = _course_cli(copy, "colab-links", "--repo", "someone/fork", "--branch", "dev")
    assert f"Pointed {n_notebooks} notebooks" in out, out
    assert json.loads((copy / "course" / "repository.json").read_text()) == {"repo": "someone/fork", "branch": "dev"}
    assert _course_cli(copy, "-c", "import course; print(course.paths.GITHUB_REPO, course.paths.GITHUB_BRANCH)",
                       python=True).split() == ["someone/fork", "dev"]
    edited = [rel for rel in original if rel.endswith(".py") and _snapshot(copy)[rel] != original[rel]]
    assert not edited, f"colab-links edited Python source: {edited}"
    for rel in original:
        if not rel.endswith(".ipynb"):
            continue
        text = (copy / rel).read_text(encoding="utf-8")
        cells = json.loads(text)["cells"]
        assert _source(cells[0]).startswith(notebooks.badge(rel, "someone/fork", "dev")), rel
        assert _source(cells[1]).strip() == notebooks.install_source_for(rel, "someone/fork", "dev").strip(), rel
        assert GITHUB_REPO not in text, f"{rel} still names {GITHUB_REPO} after the rewrite"
    assert _problems_in(copy) == [], "after colab-links the notebooks must follow the conventions"

    _course_cli(copy, "colab-links", "--repo", GITHUB_REPO, "--branch", GITHUB_BRANCH)
    after = _snapshot(copy)
    changed = [rel for rel in original if rel.endswith(".ipynb") and _content(after[rel]) != _content(original[rel])]
    assert not changed, f"rewriting back to {GITHUB_REPO} did not restore {changed}"
    assert after["course/repository.json"] == original["course/repository.json"]
    assert [rel for rel in original if rel.endswith(".py") and after[rel] != original[rel]] == []
    assert _snapshot(ROOT) == real_before, "the test touched the real repository"
