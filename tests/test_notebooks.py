"""Every lesson and every assignment solution runs top to bottom in smoke mode on a fresh kernel.

New notebooks join automatically. The kernels read the stand-in data of tests/fakedata.py.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course import notebooks, runner

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted(p for p in (ROOT / "solutions").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
ALL = notebooks.all_notebooks(ROOT)


@pytest.mark.notebook
@pytest.mark.parametrize("path", LESSONS + SOLUTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_runs_in_smoke_mode(path, kernel_env, tmp_path):
    with runner._environment(kernel_env):
        result = runner.run_notebook(path, tmp_path, runner.smoke_parameters("cpu"), timeout=300)
    assert result.status == "ok", result.error


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_follows_conventions(path):
    assert notebooks.problems(path) == []


def test_there_are_lessons():
    assert LESSONS, "notebooks/ holds no lessons"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_control_characters_in_cell_sources(path):
    """A Python string like "\\beta" written into a notebook becomes backspace + "eta"."""
    nb = nbformat.read(path, as_version=4)
    found = [f"cell {i}: {ch!r} in ...{cell.source[max(0, m.start() - 20):m.end() + 20]!r}..."
             for i, cell in enumerate(nb.cells)
             for m in [_CONTROL.search(cell.source)] if m for ch in [m.group()]]
    assert found == [], "control characters (only newline and tab are allowed):\n" + "\n".join(found)


_UNBACKED_CLAIM = re.compile(r"in our runs?|measured:", re.IGNORECASE)


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_numbers_from_past_runs_in_markdown(path):
    """Prose must not quote results of somebody's earlier run ("in our runs", "measured: ...");
    a number the reader should trust comes from a cell that computes it."""
    nb = nbformat.read(path, as_version=4)
    found = [f"cell {i}: ...{cell.source[max(0, m.start() - 40):m.end() + 40]!r}..."
             for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
             for m in _UNBACKED_CLAIM.finditer(cell.source)]
    assert found == [], "claims that no cell computes:\n" + "\n".join(found)
