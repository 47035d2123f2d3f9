"""Running nbgrader's real command line for the course: release, the gradebook, the folders.

Everything runs from the course root (the folder of ``nbgrader_config.py``).

Used by: ``course.autograde.grade``, ``report``, the command line and the self-tests.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Sequence

import nbformat

from course.autograde.pool import run_pool
from course.paths import ROOT


def nbgrader_env(extra: dict | None = None) -> dict:
    """Environment for nbgrader: this Python's bin folder first (nbgrader calls ``alembic``)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("MPLBACKEND", "Agg")
    env.update(extra or {})
    return env


def nbgrader(args: Sequence[str], root: Path = ROOT, env: dict | None = None, check: bool = True,
             log: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` (the real command line) in the course folder ``root``.

    Output goes to ``log`` when given (else it is captured). Raises ``RuntimeError`` with the
    output's tail when ``check`` and nbgrader exits non-zero.
    """
    cmd = [sys.executable, "-m", "nbgrader", *args]
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as f:
            f.write(f"$ nbgrader {' '.join(args)}\n")
            f.flush()
            proc = subprocess.run(cmd, cwd=root, env=env or nbgrader_env(), stdout=f, stderr=subprocess.STDOUT, text=True)
        proc.stdout = Path(log).read_text(errors="replace")
    else:
        proc = subprocess.run(cmd, cwd=root, env=env or nbgrader_env(), capture_output=True, text=True)
        proc.stdout = (proc.stdout or "") + (proc.stderr or "")
    if check and proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {proc.returncode}) in {root}:\n{tail}")
    return proc


def nbgrader_forked(args: Sequence[str], root: Path = ROOT, env: dict | None = None, check: bool = True,
                    log: Path | None = None) -> int:
    """Like ``nbgrader()``, but nbgrader's command line runs in a process forked from a server
    that imported nbgrader once (starting nbgrader costs seconds of CPU each time).

    Returns the exit code; with ``check``, a non-zero one raises ``RuntimeError`` with the log's tail.
    """
    import tempfile

    if log is None:
        handle, name = tempfile.mkstemp(prefix="nbgrader-", suffix=".log")
        os.close(handle)
        path, temporary = Path(name), True
    else:
        path, temporary = Path(log), False
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(f"$ nbgrader {' '.join(args)}\n")
    code = run_pool([{"key": "run", "args": list(args), "cwd": str(root), "env": env or nbgrader_env(),
                       "log": str(path)}], 1, None)["run"]
    tail = "\n".join(path.read_text(errors="replace").splitlines()[-30:])
    if temporary:
        path.unlink()
    if check and code != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {code}) in {root}:\n{tail}")
    return code


def config_of(root: Path):
    """The course's nbgrader configuration (``<root>/nbgrader_config.py``; empty when none)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    path = Path(root) / "nbgrader_config.py"
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config() if path.exists() else Config()


def config_dirs(root: Path) -> tuple[str, str]:
    """(source, release) directory names of the course at ``root`` (from its nbgrader_config.py)."""
    cfg = config_of(root)
    return (cfg.CourseDirectory.get("source_directory", "source"),
            cfg.CourseDirectory.get("release_directory", "release"))


def list_assignments(root: Path = ROOT) -> list[str]:
    """Assignment ids: the folders of the source directory that hold a notebook."""
    source, _ = config_dirs(root)
    folder = Path(root) / source
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) if folder.exists() else []


def db_path(root: Path) -> Path:
    return Path(root) / "gradebook.db"


def release(assignments: Iterable[str] | None = None, root: Path = ROOT, log: Path | None = None) -> list[Path]:
    """``nbgrader generate_assignment`` for each assignment, then point the Colab badges at the
    released files. Returns the released notebooks. Also records the assignments in the gradebook."""
    from course import notebooks

    root = Path(root)
    source, rel = config_dirs(root)
    out = []
    for assignment in assignments or list_assignments(root):
        nbgrader_forked(["generate_assignment", assignment, "--force"], root, log=log)
        for path in sorted((root / rel / assignment).glob("*.ipynb")):
            _fix_badge(path, f"{source}/{assignment}/{path.name}", f"{rel}/{assignment}/{path.name}", notebooks)
            out.append(path)
    return out


def _fix_badge(path: Path, source_rel: str, release_rel: str, notebooks) -> None:
    """Make cell 0's Colab badge point at the released notebook itself."""
    nb = nbformat.read(path, as_version=4)
    if nb.cells and nb.cells[0].cell_type == "markdown":
        text = nb.cells[0].source
        new = text.replace(notebooks.badge(source_rel), notebooks.badge(release_rel))
        if new == text:  # a badge for another repository or branch: rewrite whatever is there
            new = re.sub(r"(colab\.research\.google\.com/github/[^)]*?/blob/[^/)]+/)" + re.escape(source_rel),
                         lambda m: m.group(1) + release_rel, text)
        if new != text:
            cell = nb.cells[0]
            cell.source = new
            if "checksum" in cell.metadata.get("nbgrader", {}):  # keep a locked cell self-consistent
                from nbgrader.utils import compute_checksum

                cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
            nbformat.write(nb, path)


def ensure_in_gradebook(assignment: str, root: Path = ROOT, log: Path | None = None) -> None:
    """Make sure the gradebook knows ``assignment`` (its test cells); if not, generate it into a
    scratch release folder (the committed ``assignments/`` is left alone)."""
    from nbgrader.api import Gradebook, MissingEntry

    db = db_path(root)
    if db.exists():
        with Gradebook(f"sqlite:///{db}") as gb:
            try:
                if gb.find_assignment(assignment).notebooks:
                    return
            except MissingEntry:
                pass
    scratch = Path(root) / "build" / "autograde" / "_release"
    nbgrader_forked(["generate_assignment", assignment, "--force",
              f"--CourseDirectory.release_directory={scratch}"], root, log=log)
