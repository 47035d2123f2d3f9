"""Where things are: the course repository's root folder, its address on GitHub, the data folder.

``ROOT`` is the folder above the ``course`` package. In a checkout (``git clone`` plus
``pip install -e .``, or ``PYTHONPATH``) it holds ``notebooks/``, ``solutions/``, ``assignments/``
and ``nbgrader_config.py``; after a plain ``pip install`` (Colab) it is ``site-packages`` and holds
none of them, so commands that work on those folders call ``checkout()`` first and stop with a
clear message instead of looking for lessons among the installed packages.

The GitHub address (``GITHUB_REPO`` = "owner/name", ``GITHUB_BRANCH``) is data, in
``course/repository.json`` (shipped with the package): ``course colab-links --repo owner/name``
rewrites that file and the notebooks, never Python source.

``data_dir()`` is the folder of the datasets (``course.data`` re-exports it; it lives here so
that finding the folder does not import PyTorch).

Imports only the standard library (the grading kernel's launcher imports this package).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY_FILE = Path(__file__).resolve().parent / "repository.json"
DATA_ENV_VAR = "COURSE_DATA_DIR"
_SLUG = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def github(root: Path | None = None) -> tuple[str, str]:
    """``("owner/name", "branch")`` from ``course/repository.json`` (of ``root`` when given)."""
    path = REPOSITORY_FILE if root is None else Path(root) / "course" / REPOSITORY_FILE.name
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["repo"], data["branch"]


def github_slug(repo: str) -> str:
    """``repo`` if it looks like ``owner/name``, else ``ValueError``."""
    if not _SLUG.fullmatch(repo):
        raise ValueError(f"the GitHub repository must look like owner/name, got {repo!r}.")
    return repo


def set_github(repo: str, branch: str = "main", root: Path | None = None) -> Path:
    """Write ``course/repository.json`` (of ``root`` when given); returns its path."""
    github_slug(repo)
    path = REPOSITORY_FILE if root is None else Path(root) / "course" / REPOSITORY_FILE.name
    path.write_text(json.dumps({"repo": repo, "branch": branch}) + "\n", encoding="utf-8")
    return path


GITHUB_REPO, GITHUB_BRANCH = github()


def checkout(*folders: str, root: Path | None = None) -> Path:
    """The repository root, after checking it has ``folders`` (default ``notebooks``).

    Raises ``RuntimeError`` with what to do when the package runs from an installed copy (e.g.
    ``pip install`` in Colab), which has no lessons, solutions or grading configuration.
    """
    root = ROOT if root is None else Path(root)
    missing = [name for name in folders or ("notebooks",) if not (root / name).exists()]
    if missing:
        raise RuntimeError(
            f"this command needs a checkout of the course repository (git clone "
            f"https://github.com/{GITHUB_REPO}, and run it there); {root} has no {', '.join(missing)} "
            f"(an installed package has no notebooks, solutions or grading configuration)")
    return root


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The data directory: ``root``, else ``$COURSE_DATA_DIR``, else the user cache directory."""
    if root is None:
        root = os.environ.get(DATA_ENV_VAR) or None
    if root is None:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(cache) / "dlcourse"
    return Path(root).expanduser().resolve()
