"""Staging submissions: copy what a student handed in to where it is graded, safely.

Only the assignment's notebooks are copied (with nbgrader's ``timestamp.txt``, and the files the
assignment declares in ``assignment.json``'s ``files``, up to its ``max_file_mb``), never a whole
folder: a submitted ``course/`` package, a ``sitecustomize.py``, an oversized file or a symbolic
link to the instructor's files stays behind. A notebook that
is not valid JSON (or not a notebook) is replaced by the blank released one with a note, so it
scores 0 and its feedback says why; one that breaks the notebook schema is repaired.

Used by: ``course.autograde.grade`` (staging), ``course.autograde.execute`` (the declared files).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Sequence

import nbformat

from course.autograde.commands import config_dirs
from course.autograde.notes import add_note, notes_of
from course.paths import ROOT


def read_submission(path: Path):
    """Read a submitted notebook: ``(notebook, None)``, or ``(None, reason)`` when it cannot be read.

    A notebook that is JSON but breaks the notebook schema (e.g. written by another tool) is
    repaired: each cell keeps its type, source, metadata and id; outputs are dropped (nbgrader
    clears them anyway). Only when that fails too does the reason say why.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        return None, f"the file is not text ({err.reason})"
    except json.JSONDecodeError as err:
        return None, f"the file is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return None, "the file is JSON but not a notebook (no list of cells)"
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
        return nb, None
    except Exception:  # noqa: BLE001 - try to repair below
        pass
    try:
        cells = []
        for cell in raw["cells"]:
            kind = cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown", "raw") else "raw"
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
            new = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
                   "raw": nbformat.v4.new_raw_cell}[kind](source, metadata=meta)
            if isinstance(cell.get("id"), str) and re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", cell["id"]):
                new["id"] = cell["id"]
            cells.append(new)
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        nb = nbformat.v4.new_notebook(cells=cells, metadata=meta)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001
        return None, f"the notebook is malformed ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
    add_note(nb, f"{Path(path).name} broke the notebook format; it was repaired (outputs dropped) and graded")
    return nb, None


SPEC = "assignment.json"     # in the source folder of an assignment; never released (nbgrader_config.py)
DEFAULT_MAX_FILE_MB = 20


def assignment_spec(root: Path, assignment: str) -> dict:
    """``<source>/<assignment>/assignment.json`` (``{}`` when there is none). Keys the grader reads:

    * ``files``: names of files besides the notebooks that students hand in (A4: its weights
      file ``a4_cifar_cnn.pt``); staging and the executor copy them, and only them;
    * ``max_file_mb``: the largest such file that is graded (default ``DEFAULT_MAX_FILE_MB``);
    * ``hidden_data``: paths in the data cache that the grading kernel must not see (the labels
      of the split a check evaluates on, e.g. ``cifar-10-batches-py/test_batch``).
    """
    source, _ = config_dirs(root)
    path = Path(root) / source / assignment / SPEC
    if not path.exists():
        return {}
    spec = json.loads(path.read_text())
    return spec if isinstance(spec, dict) else {}


def declared_files(root: Path, assignment: str) -> list[str]:
    """Files besides the notebooks that the assignment asks students to hand in: the list
    ``files`` in ``<source>/<assignment>/assignment.json`` (e.g. a weights file), if any."""
    names = assignment_spec(root, assignment).get("files", [])
    return [n for n in names if isinstance(n, str) and re.fullmatch(r"[\w.-]+", n) and not n.startswith(".")]


def max_file_bytes(root: Path, assignment: str) -> int:
    """The largest declared file (bytes) that is copied for grading."""
    return int(float(assignment_spec(root, assignment).get("max_file_mb", DEFAULT_MAX_FILE_MB)) * 2**20)


def copy_declared(src: Path, dest: Path, names: Sequence[str], max_bytes: int) -> list[str]:
    """Copy the declared files ``names`` from the folder ``src`` to ``dest``: regular files only
    (never a symbolic link), at most ``max_bytes`` each. Returns notes on what was left out for
    its size; a missing file is left to the check that needs it (it says so itself)."""
    notes = []
    for name in names:
        path = Path(src) / name
        if not path.is_file() or path.is_symlink():
            continue
        size = path.stat().st_size
        if size > max_bytes:
            notes.append(f"{name} is {size / 2**20:.1f} MiB, more than the {max_bytes / 2**20:g} MiB this "
                         f"assignment accepts: it was not graded")
            continue
        shutil.copyfile(path, Path(dest) / name)
    return notes


def stage(assignment: str, students: Sequence[str], root: Path, dest: Path) -> dict[str, list[str]]:
    """Copy ``submitted/<s>/<assignment>`` to ``dest/<s>/<assignment>`` for each student.

    A notebook that is not valid JSON (or not a notebook) is replaced by the released one,
    carrying a note saying why, so it scores 0 and its feedback explains; one that breaks the
    notebook schema is repaired (``read_submission``). Returns ``{student: [notes]}``.
    """
    _, rel = config_dirs(root)
    notes = {}
    for student in students:
        src = Path(root) / "submitted" / student / assignment
        out = dest / student / assignment
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        notes[student] = copy_declared(src, out, declared_files(root, assignment), max_file_bytes(root, assignment))
        for name in [*(p.name for p in src.glob("*.ipynb")), "timestamp.txt"]:
            path = src / name
            if path.is_file() and not path.is_symlink():   # never a link to the instructor's files
                shutil.copyfile(path, out / name)
        for path in sorted(out.glob("*.ipynb")):
            nb, why = read_submission(path)
            if nb is not None:
                if notes_of(nb):
                    nbformat.write(nb, path)
                    notes[student] += notes_of(nb)
                continue
            blank = Path(root) / rel / assignment / path.name
            text = f"{path.name} could not be read: {why}. It was graded as the blank released notebook."
            notes[student].append(text)
            if blank.exists():
                nb = nbformat.read(blank, as_version=4)
                add_note(nb, text)
                nbformat.write(nb, path)
            else:
                path.unlink()
    return notes


def submitted_students(assignment: str, root: Path = ROOT) -> list[str]:
    folder = Path(root) / "submitted"
    return sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir()) if folder.exists() else []
