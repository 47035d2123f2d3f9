"""Lesson conventions as code: badge and install cells, skeletons, clean-notebook checks.

The GitHub address is ``GITHUB_REPO``/``GITHUB_BRANCH``, read from ``course/repository.json``
(``course.paths``). ``set_repo("owner/name")`` (``make colab-links REPO=owner/name``) rewrites that
file and every notebook's badge and install cell.

Conventions every notebook follows (the README's contributing section explains them):

1. cell 0: markdown that starts with the "Open in Colab" badge, then the title;
2. cell 1: a code cell tagged ``colab`` that installs the package in Colab and does nothing elsewhere;
3. exactly one code cell tagged ``parameters`` holding the knobs (``DEVICE``, ``SMOKE``, ...);
4. saved without outputs or execution counts; lessons are named ``notebooks/NN_slug.ipynb``.
"""
from __future__ import annotations

import re
from pathlib import Path

from course.paths import GITHUB_BRANCH, GITHUB_REPO, ROOT, checkout, github_slug, set_github

PACKAGE = "dlcourse"
NOTEBOOK_DIRS = ("notebooks", "assignments", "solutions")
LESSON_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
_BADGE = re.compile(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]"
                    r"\(https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/([^/]+)/([^)]+)\)")


def badge(relpath: str, repo: str = GITHUB_REPO, branch: str = GITHUB_BRANCH) -> str:
    """Markdown of the "Open in Colab" badge for the notebook at ``relpath`` (from the repo root)."""
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{repo}/blob/{branch}/{relpath})")


def install_source(repo: str = GITHUB_REPO, branch: str = GITHUB_BRANCH, pinned: bool = False) -> str:
    """Source of the install cell: installs the course package in Colab, nothing elsewhere.

    ``pinned`` (the assignments): install the release tag ``v<version>`` of this package instead
    of ``branch``, so the checks a student runs are the ones that grade them.
    """
    from course import __version__

    ref = f"v{__version__}" if pinned else branch
    comment = (f"# In Google Colab, install the course package at version {__version__} (the checks that grade this\n"
               "# assignment); everywhere else this cell does nothing.\n") if pinned else \
        "# In Google Colab, install the course package; everywhere else this cell does nothing.\n"
    return (
        comment +
        "import sys\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    %pip install -q \"{PACKAGE} @ git+https://github.com/{repo}@{ref}\"\n"
    )


def install_source_for(rel: str, repo: str = GITHUB_REPO, branch: str = GITHUB_BRANCH) -> str:
    """The install cell of the notebook at ``rel``: pinned for assignments, ``branch`` for lessons."""
    return install_source(repo, branch, pinned=rel.startswith(("assignments/", "solutions/")))


def all_notebooks(root: Path = ROOT) -> list[Path]:
    found = []
    for folder in NOTEBOOK_DIRS:
        found += [p for p in sorted((root / folder).rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    return found


def _read(path: Path):
    import nbformat

    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def _write(path: Path, nb) -> None:
    """Write as Jupyter does (sorted keys, sources as lists of lines), so diffs stay minimal."""
    import nbformat

    nbformat.write(nb, path)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def problems(path: str | Path, root: Path = ROOT) -> list[str]:
    """Everything in a notebook that breaks the conventions (empty list: all good)."""
    import nbformat

    path = Path(path).resolve()
    rel = path.relative_to(root).as_posix()
    out = []
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001
        return [f"{rel}: not a valid notebook ({type(err).__name__}: {err})"]
    cells = nb.cells
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            out.append(f"{rel}: cell {i} has stored outputs or an execution count "
                       f"(run `make strip` before committing)")
    if not cells or cells[0].cell_type != "markdown" or badge(rel) not in _source(cells[0]):
        out.append(f"{rel}: cell 0 must be markdown starting with the Colab badge for {rel} "
                   f"(run `make colab-links`)")
    if len(cells) < 2 or "colab" not in _tags(cells[1]) or _source(cells[1]).strip() != install_source_for(rel).strip():
        out.append(f"{rel}: cell 1 must be the install cell tagged 'colab' (course.notebooks.install_source_for())")
    params = [i for i, c in enumerate(cells) if "parameters" in _tags(c)]
    if rel.startswith("notebooks/"):
        if not LESSON_NAME.match(path.name):
            out.append(f"{rel}: lesson files are named NN_slug.ipynb (lowercase, underscores)")
        if len(params) != 1:
            out.append(f"{rel}: needs exactly one cell tagged 'parameters', found {len(params)}")
        elif "SMOKE" not in _source(cells[params[0]]) or "DEVICE" not in _source(cells[params[0]]):
            out.append(f"{rel}: the parameters cell must define DEVICE and SMOKE")
    return out


def strip(path: str | Path) -> bool:
    """Remove outputs and execution counts in place; returns True when the file changed."""
    nb = _read(Path(path))
    changed = False
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            if cell.get("outputs") or cell.get("execution_count") is not None:
                changed = True
            cell["outputs"], cell["execution_count"] = [], None
        for key in ("execution", "collapsed", "scrolled"):
            if cell.get("metadata", {}).pop(key, None) is not None:
                changed = True
    if changed:
        _write(Path(path), nb)
    return changed


def set_repo(repo: str, branch: str = GITHUB_BRANCH, root: Path = ROOT) -> list[Path]:
    """Point every badge and install cell, and ``course/repository.json``, at ``github.com/<repo>``."""
    import nbformat

    github_slug(repo)
    checkout(root=root)
    changed = []
    for path in all_notebooks(root):
        nb = _read(path)
        rel = path.relative_to(root).as_posix()
        cells = nb["cells"]
        first = _source(cells[0]) if cells and cells[0]["cell_type"] == "markdown" else ""
        rest = _BADGE.sub("", first).lstrip("\n") if _BADGE.search(first) else first
        new_first = badge(rel, repo, branch) + "\n\n" + rest if rest else badge(rel, repo, branch)
        if cells and cells[0]["cell_type"] == "markdown":
            cells[0]["source"] = new_first
        else:
            cells.insert(0, nbformat.from_dict(_cell("markdown", new_first)))
        install = _cell("code", install_source_for(rel, repo, branch).rstrip("\n"), tags=["colab"])
        if len(cells) > 1 and "colab" in _tags(cells[1]):
            cells[1]["source"] = install["source"]
        else:
            cells.insert(1, nbformat.from_dict(install))
        _write(path, nb)
        changed.append(path)
    set_github(repo, branch, root)
    return changed


def _cell(kind: str, source: str, tags: list[str] | None = None) -> dict:
    import uuid

    cell = {"cell_type": kind, "id": uuid.uuid4().hex[:8],
            "metadata": {"tags": tags} if tags else {}, "source": source}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def new_lesson(number: int, slug: str, title: str, root: Path = ROOT) -> Path:
    """Create ``notebooks/NN_slug.ipynb`` with the conventional first cells."""
    import nbformat

    checkout(root=root)
    rel = f"notebooks/{number:02d}_{slug}.ipynb"
    path = root / rel
    if path.exists():
        raise FileExistsError(f"{rel} exists already.")
    cells = [
        _cell("markdown", f"{badge(rel)}\n\n# {number:02d} · {title}\n\n"
                          "**Goals.** After this lesson you can ...\n\n"
                          "**Time.** about N minutes on a laptop CPU (seconds in smoke mode)."),
        _cell("code", install_source().rstrip("\n"), tags=["colab"]),
        _cell("code", "import numpy as np\nimport torch\n\nimport course\nfrom course import check, plot"),
        _cell("code", "# Parameters: change them here (the runner and CI override them).\n"
                      "DEVICE = \"auto\"   # \"auto\", \"cpu\", \"cuda\", \"cuda:1\" or \"mps\"\n"
                      "SMOKE = False     # True: a tiny, seconds-long version (CI)\n"
                      "NUM_EPOCHS = 5",
              tags=["parameters"]),
        _cell("code", "if SMOKE:  # derived settings go here: papermill injects new values after the parameters cell\n"
                      "    NUM_EPOCHS = 1"),
        _cell("code", "device = course.device.pick(DEVICE)"),
        _cell("markdown", "## Summary\n\n- ...\n\n**Next:** ..."),
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.from_dict(c) for c in cells]
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                  "name": "python3"},
                   "language_info": {"name": "python"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
